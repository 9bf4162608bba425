export * from "./modelRelease";
export * from "./plan";
export * from "./program";
export * from "./types";
export * from "./validate";
export * from "./weights";
