// The model-release stack program: one ModelRelease per entry of the `releases` stack config.
import { releaseProgram } from "./components";

export const releases = releaseProgram().releases;
