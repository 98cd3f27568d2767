// Matomo keeps its plugin lists in the config file, and merges a list from common.config.ini.php into
// global.ini.php's position by position. The platform therefore renders the complete lists: Matomo's
// defaults for the pinned version, in their order, then the plugins our image adds. A test checks
// these defaults against the pinned global.ini.php.

/** [Plugins] Plugins[] of Matomo 5.2's global.ini.php, in order. */
export const MATOMO_DEFAULT_PLUGINS: readonly string[] = [
  "CoreVue", "CorePluginsAdmin", "CoreAdminHome", "CoreHome", "WebsiteMeasurable", "IntranetMeasurable", "Diagnostics",
  "CoreVisualizations", "Proxy", "API", "Widgetize", "Transitions", "LanguagesManager", "Actions", "Dashboard", "MultiSites",
  "Referrers", "UserLanguage", "DevicesDetection", "Goals", "Ecommerce", "SEO", "Events", "UserCountry", "GeoIp2",
  "VisitsSummary", "VisitFrequency", "VisitTime", "VisitorInterest", "RssWidget", "Feedback", "Monolog", "Login",
  "TwoFactorAuth", "UsersManager", "SitesManager", "Installation", "CoreUpdater", "CoreConsole", "ScheduledReports",
  "UserCountryMap", "Live", "PrivacyManager", "ImageGraph", "Annotations", "MobileMessaging", "Overlay", "SegmentEditor",
  "Insights", "Morpheus", "Contents", "TestRunner", "BulkTracking", "Resolution", "DevicePlugins", "Heartbeat", "Intl",
  "Marketplace", "ProfessionalServices", "UserId", "CustomJsTracker", "Tour", "PagePerformance", "CustomDimensions",
  "JsTrackerInstallCheck", "FeatureFlags",
];

/** [PluginsInstalled] PluginsInstalled[] of the same file, in order. */
export const MATOMO_DEFAULT_INSTALLED: readonly string[] = [
  "Diagnostics", "Login", "CoreAdminHome", "UsersManager", "SitesManager", "Installation", "Monolog", "Intl", "JsTrackerInstallCheck",
];

/** Plugins the tenant image bakes in (deploy/images/matomo). */
export const IMAGE_PLUGINS: readonly string[] = ["ExtraTools", "QueuedTracking"];

/** Every plugin active in a tenant. */
export function activePlugins(): string[] {
  return [...MATOMO_DEFAULT_PLUGINS, ...IMAGE_PLUGINS.filter((p) => !MATOMO_DEFAULT_PLUGINS.includes(p))];
}

/**
 * Every active plugin counts as installed (the install Job installs them all); the defaults come
 * first and in order, so that Matomo's index-wise merge leaves the list exactly as rendered.
 */
export function installedPlugins(): string[] {
  return [...MATOMO_DEFAULT_INSTALLED, ...activePlugins().filter((p) => !MATOMO_DEFAULT_INSTALLED.includes(p))];
}
