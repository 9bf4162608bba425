// The package's `main`. Two readers take it:
// - Pulumi's plugin runner, when `pulumi package add <this repository>` loads the source-based
//   plugin (PulumiPlugin.yaml): it registers ts-node first, so the TypeScript sources load
//   without a build, and it hosts every ComponentResource exported here (ModelRelease).
// - Old module resolvers that ignore package.json "exports": they get the built library.
// Programs that import model-release normally get dist/ through "exports".
const fs = require("fs");
const path = require("path");

const source = path.join(__dirname, "components", "index.ts");
module.exports = require.extensions[".ts"] && fs.existsSync(source) ? require(source) : require("./dist/components");
