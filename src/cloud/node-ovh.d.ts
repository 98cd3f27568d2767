// The part of @ovhcloud/node-ovh (CommonJS, shipped without types) that the OVH driver uses.
declare module "@ovhcloud/node-ovh" {
  interface OvhClientOptions {
    /** A preconfigured API, such as "ovh-eu", "ovh-ca" or "ovh-us"; sets host and basePath. */
    endpoint?: string;
    appKey: string;
    appSecret: string;
    consumerKey: string;
    /** Always reached over HTTPS: the client has no protocol option. */
    host?: string;
    port?: number;
    basePath?: string;
  }
  interface OvhClient {
    /** Rejects with `{ error, message }`: the HTTP status (or a network error) and the API's message. */
    requestPromised(method: string, path: string, params?: Record<string, unknown>): Promise<unknown>;
  }
  function ovh(options: OvhClientOptions): OvhClient;
  export = ovh;
}
