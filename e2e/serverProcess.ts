/**
 * What the throwaway servers of the tests (PostgreSQL, Prometheus) share: whether their process
 * runs, the tail of their log for failure messages, and a stop that escalates signal by signal.
 */
import { ChildProcess } from "node:child_process";
import * as fs from "node:fs";

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether the process has neither exited nor been killed. */
export function alive(child: ChildProcess): boolean {
    return child.exitCode === null && child.signalCode === null;
}

/** The last lines of a server log, for failure messages. */
export function readTail(file: string, lines: number): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no server log)";
    }
}

/**
 * Sends each signal in turn and waits up to its time for the process to exit; stops at the first
 * that ends it. The wait's timer is cleared on exit: a pending one would keep the test alive.
 */
export async function stopProcess(child: ChildProcess, steps: [NodeJS.Signals, number][]): Promise<void> {
    const exited = (ms: number) =>
        new Promise<boolean>((resolve) => {
            const done = () => {
                clearTimeout(timer);
                child.removeListener("exit", done);
                resolve(!alive(child));
            };
            const timer = setTimeout(done, ms);
            child.once("exit", done);
        });
    for (const [signal, ms] of steps) {
        if (!alive(child)) return;
        child.kill(signal);
        if (await exited(ms)) return;
    }
}
