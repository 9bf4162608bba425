/**
 * Validation of release descriptions: see validate/index.ts. This module keeps the import path
 * `components/validate` that the program, the automation layer and the tests use.
 */
export * from "./validate/index";
