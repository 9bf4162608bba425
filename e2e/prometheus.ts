/**
 * A throwaway Prometheus for the tests: a config scraping the given targets every second, a TSDB
 * in a temporary directory, the web API on 127.0.0.1 on a free port. The binary comes from the
 * machine (see scripts/prometheus.sh). A test can take the server away in the middle of a run to
 * make metric checks inconclusive: `halt()` (connections refused) or `pause()` (SIGSTOP:
 * connections accepted, no answer), then `restart()` / `resume()` brings it back on the same URL
 * with the data it had.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { freePort } from "./cluster";
import { alive, readTail, sleep, stopProcess } from "./serverProcess";

const INSTALL_HINT = "bash scripts/prometheus.sh --install";

/** The Prometheus binary, searched like scripts/prometheus.sh: on PATH, else /usr/bin/prometheus. */
export function prometheusBin(): string {
    const candidates = (process.env.PATH ?? "")
        .split(path.delimiter)
        .filter((dir) => dir !== "")
        .map((dir) => path.join(dir, "prometheus"));
    for (const file of [...candidates, "/usr/bin/prometheus"]) {
        try {
            fs.accessSync(file, fs.constants.X_OK);
            if (fs.statSync(file).isFile()) return file;
        } catch {
            // not this one
        }
    }
    throw new Error(`prometheus not found on PATH or in /usr/bin: run ${INSTALL_HINT}`);
}

export interface PrometheusOptions {
    /** Scrape targets, `host:port` (scraped at `/metrics`, job `model-release`). */
    targets: string[];
    /** Scrape interval (also the scrape timeout), a Prometheus duration. Default `1s`. */
    scrapeInterval?: string;
    /**
     * How far back an instant selector looks for a sample (`--query.lookback-delta`), so that a
     * series gone from its target is gone from queries soon. Default `10s` (Prometheus: 5m).
     */
    lookbackDelta?: string;
}

async function stopServer(child: ChildProcess): Promise<void> {
    if (!alive(child)) return;
    child.kill("SIGCONT"); // a paused server would not act on SIGTERM
    // Graceful (the TSDB is closed, the next start replays less), then kill.
    await stopProcess(child, [
        ["SIGTERM", 15_000],
        ["SIGKILL", 5_000],
    ]);
}

/**
 * Whether every thread of the process is in the stopped state (`T` in /proc/<pid>/task/<tid>/stat);
 * throws when the process is gone (it exited or was reaped: it cannot be paused).
 */
function allThreadsStopped(pid: number): boolean {
    let tasks: string[];
    try {
        tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
        throw new Error(`prometheus (pid ${pid}) exited before it could be paused`);
    }
    return tasks.every((tid) => {
        try {
            // The state follows the command name, which is in parentheses and may contain spaces.
            const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
            return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
        } catch {
            return true; // the thread is gone
        }
    });
}

/** A running (or halted, or paused) throwaway Prometheus. */
export class PrometheusServer {
    /** `http://127.0.0.1:<port>`: the HTTP API is at `${url}/api/v1/...`. */
    readonly url: string;
    private server: ChildProcess | undefined;
    private stopped = false;
    private readonly onExit = () => {
        this.server?.kill("SIGKILL");
        fs.rmSync(this.dir, { recursive: true, force: true });
    };

    private constructor(
        /** The temporary directory (config, TSDB, log). */
        readonly dir: string,
        readonly port: number,
        private readonly args: string[],
    ) {
        this.url = `http://127.0.0.1:${port}`;
        // A test run that exits without stop() must not leave a server (nor its directory) behind.
        process.once("exit", this.onExit);
    }

    get logFile(): string {
        return path.join(this.dir, "prometheus.log");
    }

    /** The last lines of the server log, for failure messages. */
    logTail(lines = 30): string {
        return readTail(this.logFile, lines);
    }

    /** Whether the server process is up (halted or stopped: false; paused: true). */
    get running(): boolean {
        return this.server !== undefined && alive(this.server);
    }

    /** See startPrometheus. */
    static async start(options: PrometheusOptions): Promise<PrometheusServer> {
        const interval = options.scrapeInterval ?? "1s";
        // JSON is YAML: no YAML writer needed.
        const config = JSON.stringify(
            {
                global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: "1s" },
                scrape_configs: [{ job_name: "model-release", static_configs: [{ targets: options.targets }] }],
            },
            null,
            2,
        );
        // A free port can be taken between the probe and the bind: start again on another.
        for (let attempt = 1; ; attempt++) {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-prom-"));
            const port = await freePort();
            const prometheus = new PrometheusServer(dir, port, [
                `--config.file=${path.join(dir, "prometheus.yml")}`,
                `--storage.tsdb.path=${path.join(dir, "data")}`,
                `--web.listen-address=127.0.0.1:${port}`,
                `--query.lookback-delta=${options.lookbackDelta ?? "10s"}`,
            ]);
            let error: string | undefined;
            try {
                fs.writeFileSync(path.join(dir, "prometheus.yml"), config);
                error = await prometheus.launch();
            } catch (e) {
                error = (e as Error).message;
            }
            if (!error) return prometheus;
            const log = prometheus.logTail();
            await prometheus.stop();
            if (!/address already in use/i.test(log) || attempt >= 3) {
                throw new Error(`${error}\n--- server log ---\n${log}`);
            }
        }
    }

    /** Starts the server (not running) and waits until `/-/ready`; the reason it failed, if it did. */
    private async launch(): Promise<string | undefined> {
        if (this.stopped) throw new Error("this Prometheus was stopped");
        if (this.running) return undefined;
        const log = fs.openSync(this.logFile, "a");
        const server = spawn(prometheusBin(), this.args, { cwd: this.dir, stdio: ["ignore", log, log] });
        fs.closeSync(log);
        this.server = server;
        const deadline = Date.now() + 60_000;
        let last = "";
        for (;;) {
            if (!alive(server)) {
                return `prometheus exited (${server.exitCode ?? server.signalCode}) before it was ready`;
            }
            try {
                const res = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
                if (res.status === 200) return undefined;
                last = `HTTP ${res.status}`;
            } catch (error) {
                last = (error as Error).message;
            }
            if (Date.now() > deadline) {
                await stopServer(server);
                return `prometheus was not ready on ${this.url} in 60 s (${last})`;
            }
            await sleep(100);
        }
    }

    /** Terminates the server, keeping its port, data and config: the URL refuses connections. */
    async halt(): Promise<void> {
        if (this.server) await stopServer(this.server);
    }

    /**
     * Starts the server again (halting it first if it is running) on the same port with the same
     * data, and waits until it is ready. Fails if another process took the port meanwhile.
     */
    async restart(): Promise<void> {
        await this.halt();
        const error = await this.launch();
        if (error) throw new Error(`${error}\n--- server log (${this.logFile}) ---\n${this.logTail()}`);
    }

    /**
     * Freezes the server (SIGSTOP): connections are accepted, nothing answers, nothing is scraped.
     * Resolves once every thread is stopped: the kernel stops a process's threads one by one as
     * each is scheduled, and on a busy machine a thread that is still running can answer a
     * request made right after the signal.
     */
    async pause(): Promise<void> {
        const server = this.server;
        if (!server?.pid || !this.running) return;
        server.kill("SIGSTOP");
        const deadline = Date.now() + 10_000;
        while (!allThreadsStopped(server.pid)) {
            if (Date.now() > deadline) throw new Error(`prometheus (pid ${server.pid}) did not stop in 10 s`);
            await sleep(10);
        }
    }

    /** Thaws a paused server (SIGCONT). */
    resume(): void {
        if (this.running) this.server?.kill("SIGCONT");
    }

    /** Kills the server at once (SIGKILL): no shutdown that could outlast a test's next step. */
    kill(): void {
        if (this.running) this.server?.kill("SIGKILL");
    }

    /** Terminates the server and removes its directory. */
    async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        process.removeListener("exit", this.onExit);
        await this.halt();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Starts a throwaway Prometheus scraping `targets` and waits until it is ready. */
export function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
    return PrometheusServer.start(options);
}
