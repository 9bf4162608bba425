/**
 * A throwaway PostgreSQL for the tests: initdb in a temporary directory, a server listening only
 * on 127.0.0.1 on a free port (its unix socket inside that directory), password authentication
 * (scram-sha-256) with a random password that travels only in `env.PGPASSWORD`, never in the URL,
 * and a database `model_release`. The server binaries come from the machine (see
 * scripts/postgres.sh). PostgreSQL refuses to run as root: as root, initdb and the server run as
 * the `postgres` system user that Debian's package creates.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { freePort } from "./cluster";
import { readTail, alive, sleep, stopProcess } from "./serverProcess";

import { Client } from "pg";

const INSTALL_HINT = "bash scripts/postgres.sh --install";
const SUPERUSER = "model_release";
const DATABASE = "model_release";

function hasServer(dir: string): boolean {
    return ["initdb", "pg_ctl", "postgres"].every((name) => {
        try {
            fs.accessSync(path.join(dir, name), fs.constants.X_OK);
            return true;
        } catch {
            return false;
        }
    });
}

/**
 * The directory of PostgreSQL's server binaries, searched like scripts/postgres.sh: `initdb` on
 * PATH (a symlink leads to the real bin dir), else the newest /usr/lib/postgresql/<major>/bin.
 */
export function postgresBin(): string {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        if (dir === "") continue;
        const initdb = path.join(dir, "initdb");
        if (!fs.existsSync(initdb)) continue;
        const real = path.dirname(fs.realpathSync(initdb));
        if (hasServer(real)) return real;
    }
    const root = "/usr/lib/postgresql";
    const majors = fs.existsSync(root) ? fs.readdirSync(root) : [];
    majors.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    for (const major of majors) {
        const dir = path.join(root, major, "bin");
        if (hasServer(dir)) return dir;
    }
    throw new Error(
        `PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in ${root}/*/bin: run ${INSTALL_HINT}`,
    );
}

/** The `postgres` system user (uid, gid) to run the server as when this process is root. */
function serverUser(): { uid: number; gid: number } | undefined {
    if (process.getuid?.() !== 0) return undefined;
    try {
        const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
        return { uid: id("-u"), gid: id("-g") };
    } catch {
        throw new Error(
            `running as root, and PostgreSQL refuses root: it must run as the 'postgres' system user, which does not exist (${INSTALL_HINT} creates it)`,
        );
    }
}

/** A running throwaway PostgreSQL. */
export class LocalPostgres {
    /** Connection URL, without the password (that is in `env`). */
    readonly url: string;
    /** `{ PGPASSWORD }`: the only place the password travels. */
    readonly env: { PGPASSWORD: string };
    private stopped = false;
    private readonly onExit = () => this.server.kill("SIGQUIT");

    constructor(
        /** The temporary directory (data, socket, log). */
        readonly dir: string,
        readonly port: number,
        password: string,
        private readonly server: ChildProcess,
        private readonly logFile: string,
    ) {
        this.url = `postgres://${SUPERUSER}@127.0.0.1:${port}/${DATABASE}?sslmode=disable`;
        this.env = { PGPASSWORD: password };
        // A test run that exits without stop() must not leave a server behind (immediate shutdown).
        process.once("exit", this.onExit);
    }

    /** The last lines of the server log, for failure messages. */
    logTail(lines = 30): string {
        return readTail(this.logFile, lines);
    }

    /** Fast shutdown (rolls back open transactions, closes connections), then removes the directory. */
    async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        process.removeListener("exit", this.onExit);
        await stopServer(this.server);
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

async function stopServer(child: ChildProcess): Promise<void> {
    // Fast shutdown, then immediate shutdown, then kill.
    await stopProcess(child, [
        ["SIGINT", 15_000],
        ["SIGQUIT", 5_000],
        ["SIGKILL", 5_000],
    ]);
}

/**
 * Starts a throwaway PostgreSQL and waits until it accepts connections. `dir`: where to create
 * its temporary directory (default: the OS temp dir; as root it must be traversable by the
 * `postgres` user).
 */
export async function startPostgres(options: { dir?: string } = {}): Promise<LocalPostgres> {
    const bin = postgresBin();
    const user = serverUser();
    const dir = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), "model-release-pg-"));
    const data = path.join(dir, "data");
    const socketDir = path.join(dir, "socket");
    const pwfile = path.join(dir, "pwfile");
    const logFile = path.join(dir, "server.log");
    const password = randomBytes(24).toString("base64url");
    let server: ChildProcess | undefined;
    try {
        fs.mkdirSync(socketDir, { mode: 0o700 });
        fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
        if (user) {
            for (const p of [dir, socketDir, pwfile]) fs.chownSync(p, user.uid, user.gid);
        }
        // As root: setpriv execs the binary as `postgres` (no intermediate process, so our
        // signals reach the server itself).
        const command = (name: string, args: string[]): [string, string[]] =>
            user
                ? [
                      "setpriv",
                      [
                          `--reuid=${user.uid}`,
                          `--regid=${user.gid}`,
                          "--clear-groups",
                          "--",
                          path.join(bin, name),
                          ...args,
                      ],
                  ]
                : [path.join(bin, name), args];

        const [initdb, initdbArgs] = command("initdb", [
            `--pgdata=${data}`,
            `--username=${SUPERUSER}`,
            `--pwfile=${pwfile}`,
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        try {
            execFileSync(initdb, initdbArgs, { cwd: dir, stdio: "pipe", encoding: "utf8" });
        } catch (error) {
            const e = error as { stdout?: string; stderr?: string; message: string };
            throw new Error(`initdb failed: ${e.message}\n${(e.stdout ?? "") + (e.stderr ?? "")}`.trimEnd());
        } finally {
            fs.rmSync(pwfile, { force: true });
        }

        // A free port can be taken between the probe and the bind: try a few.
        for (let attempt = 1; ; attempt++) {
            const port = await freePort();
            const log = fs.openSync(logFile, "a");
            const [postgres, postgresArgs] = command("postgres", [
                "-D",
                data,
                "-p",
                String(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                `unix_socket_directories=${socketDir}`,
                // A throwaway cluster: durability is not wanted, speed is.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ]);
            server = spawn(postgres, postgresArgs, { cwd: dir, stdio: ["ignore", log, log] });
            fs.closeSync(log);
            const error = await waitReady(server, port, password, logFile);
            if (!error) {
                await createDatabase(port, password);
                return new LocalPostgres(dir, port, password, server, logFile);
            }
            await stopServer(server);
            if (!/could not bind|Address already in use/i.test(readTail(logFile, 10)) || attempt >= 3) {
                throw new Error(`${error}\n--- server log (${logFile}) ---\n${readTail(logFile, 30)}`);
            }
        }
    } catch (error) {
        if (server) await stopServer(server);
        fs.rmSync(dir, { recursive: true, force: true });
        throw error;
    }
}

function adminClient(port: number, password: string): Client {
    return new Client({ host: "127.0.0.1", port, user: SUPERUSER, password, database: "postgres" });
}

/** Waits until the server accepts connections; the reason it did not, if it did not. */
async function waitReady(
    server: ChildProcess,
    port: number,
    password: string,
    logFile: string,
): Promise<string | undefined> {
    const deadline = Date.now() + 60_000;
    let last = "";
    for (;;) {
        if (!alive(server)) {
            return `postgres exited (${server.exitCode ?? server.signalCode}) before accepting connections`;
        }
        const client = adminClient(port, password);
        client.on("error", () => undefined);
        try {
            await client.connect();
            await client.query("SELECT 1");
            return undefined;
        } catch (error) {
            last = (error as Error).message;
        } finally {
            await client.end().catch(() => undefined);
        }
        if (Date.now() > deadline) {
            return `postgres did not accept connections on 127.0.0.1:${port} in 60 s (${last}; log ${logFile})`;
        }
        await sleep(100);
    }
}

async function createDatabase(port: number, password: string): Promise<void> {
    const client = adminClient(port, password);
    client.on("error", () => undefined);
    try {
        await client.connect();
        await client.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
        await client.end().catch(() => undefined);
    }
}
