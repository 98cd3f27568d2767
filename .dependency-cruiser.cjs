// The layer rule of src/ (docs/architecture.md): a folder imports only from folders in lower layers
// and from itself. `npm run lint` runs this through dependency-cruiser; an upward import fails with
// the name of the rule it breaks, e.g. "layers: backup must not import controllers".
//
// Lowest first; folders on one row are peers and must not import each other.
const LAYERS = [
  ["util"],
  ["api"],
  ["kube", "matomo"],
  ["db"],
  ["render", "cloud"],
  ["backup"],
  ["controllers"],
  ["tenants", "cost", "platform"],
  ["migrate"],
  ["devcluster"],
  ["cli"],
];

const rank = new Map(LAYERS.flatMap((row, i) => row.map((folder) => [folder, i])));
const all = [...rank.keys()];

/** Each folder may not import a folder whose layer is the same (a peer) or higher. */
const layerRules = all.map((folder) => {
  const forbidden = all.filter((other) => other !== folder && rank.get(other) >= rank.get(folder));
  return {
    name: `layers: ${folder} must not import ${forbidden.join(", ") || "(none)"}`,
    comment: `${folder} is in layer ${rank.get(folder)} of docs/architecture.md; it may import only lower layers`,
    severity: "error",
    from: { path: `^src/${folder}/` },
    to: { path: `^src/(${forbidden.join("|")})/` },
  };
}).filter((rule) => !rule.name.endsWith("(none)"));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "no-cycles",
      comment: "modules must not import each other in a circle",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "src-not-from-tests",
      comment: "production code must not import tests, test support or benchmarks",
      severity: "error",
      from: { path: "^src/", pathNot: "\\.test\\.ts$" },
      to: { path: "^(test|bench)/|\\.test\\.ts$" },
    },
    {
      name: "no-unknown-folder",
      comment: "every folder of src/ has a place in the layer list of .dependency-cruiser.cjs",
      severity: "error",
      from: { path: "^src/", pathNot: `^src/(${all.join("|")})/` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    includeOnly: "^(src|test|bench)/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
