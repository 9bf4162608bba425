/**
 * The Automation API library (`model-release/automation`): the release operations as functions
 * over stack config, the ReleaseManager that runs them through the engine with locks, journal,
 * policy pack and audit, the rollout runner and its stores, and the HTTP service's building
 * blocks. `serve.ts` (the service's start-up) and the CLI entry are programs, not exports.
 */
export * from "./analysis";
export * from "./audit";
export * from "./auth";
export * from "./coordination";
export * from "./engineWorkers";
export * from "./gitConfig";
export * from "./journal";
export * from "./names";
export * from "./operations";
export * from "./pgRollouts";
export * from "./pgStore";
export * from "./readiness";
export * from "./releases";
export * from "./rollout";
export * from "./rolloutJobs";
export * from "./rolloutService";
export * from "./server";
export * from "./settings";
export * from "./stack";
export * from "./stackConfig";
