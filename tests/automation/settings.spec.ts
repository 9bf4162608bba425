import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { sha256Hex } from "../../automation/auth";
import { SettingsError, serviceSettings } from "../../automation/settings";

const TOKENS = { MODEL_RELEASE_TOKENS_FILE: "/etc/model-release/tokens.yaml" };

/** The problems serviceSettings reports for `env`, as `VARIABLE=value: problem (fix: ...)` lines. */
function problems(env: Record<string, string>): string[] {
    try {
        serviceSettings(env);
    } catch (error) {
        assert.ok(error instanceof SettingsError);
        return error.problems.map((p) => `${p.variable}=${p.value}: ${p.problem} (fix: ${p.fix})`);
    }
    return [];
}

describe("service settings", () => {
    it("has defaults for everything but who may call", () => {
        const settings = serviceSettings(TOKENS);
        assert.deepEqual(settings, {
            port: 8080,
            host: "127.0.0.1",
            workDir: ".",
            policyPack: "policies",
            maxStep: 25,
            auditLog: "audit.log",
            tokensFile: TOKENS.MODEL_RELEASE_TOKENS_FILE,
            rateLimit: { max: 60, windowMs: 60_000 },
            logLevel: "info",
            workers: os.cpus().length,
            queue: 4 * os.cpus().length,
            gitBranch: "main",
        });
        assert.match(problems({}).join("\n"), /MODEL_RELEASE_TOKENS_FILE=\(unset\): .*nobody could call/);
    });

    it("reads the scale-out settings: workers, queue, database and git remote", () => {
        const settings = serviceSettings({
            ...TOKENS,
            MODEL_RELEASE_WORKERS: "3",
            MODEL_RELEASE_QUEUE: "0",
            MODEL_RELEASE_DATABASE_URL: "postgres://model_release@db.internal:5432/releases?sslmode=require",
            MODEL_RELEASE_GIT_REMOTE: "ssh://git@git.internal/platform/releases.git",
            MODEL_RELEASE_GIT_BRANCH: "release/prod",
        });
        assert.equal(settings.workers, 3);
        assert.equal(settings.queue, 0);
        assert.equal(settings.databaseUrl, "postgres://model_release@db.internal:5432/releases?sslmode=require");
        assert.equal(settings.gitRemote, "ssh://git@git.internal/platform/releases.git");
        assert.equal(settings.gitBranch, "release/prod");
        assert.equal(
            serviceSettings({ ...TOKENS, MODEL_RELEASE_WORKERS: "5" }).queue,
            20,
            "queue defaults to 4 x workers",
        );
        const found = problems({
            ...TOKENS,
            MODEL_RELEASE_WORKERS: "0",
            MODEL_RELEASE_QUEUE: "many",
            MODEL_RELEASE_DATABASE_URL: "postgres://u:hunter2@db/x",
            MODEL_RELEASE_GIT_BRANCH: "../main",
        }).join("\n");
        assert.match(found, /MODEL_RELEASE_WORKERS="0": must be a whole number from 1 to 256/);
        assert.match(found, /MODEL_RELEASE_QUEUE="many": must be a whole number from 0 to 10000/);
        assert.match(found, /MODEL_RELEASE_DATABASE_URL=.*carries a password.*PGPASSWORD/);
        assert.doesNotMatch(found, /hunter2/);
        assert.match(found, /MODEL_RELEASE_GIT_BRANCH="..\/main": is not a branch name/);
        assert.match(
            problems({ ...TOKENS, MODEL_RELEASE_DATABASE_URL: "mysql://db/x" }).join("\n"),
            /is not a postgres:\/\/ URL/,
        );
    });

    it("reads MODEL_RELEASE_PROMETHEUS_URL: http(s) only, never with credentials, never showing a password", () => {
        assert.equal(serviceSettings(TOKENS).prometheusUrl, undefined);
        assert.equal(serviceSettings({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: "" }).prometheusUrl, undefined);
        for (const url of ["http://prometheus.monitoring:9090", "https://prom.example.com/api/prom"]) {
            assert.equal(serviceSettings({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: url }).prometheusUrl, url);
        }
        for (const value of ["ftp://prometheus:9090", "prometheus:9090", "not a url"]) {
            const found = problems({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: value });
            assert.equal(found.length, 1, value);
            assert.ok(
                found[0].startsWith(`MODEL_RELEASE_PROMETHEUS_URL=${JSON.stringify(value)}: is not an http(s) URL`),
                found[0],
            );
            assert.match(found[0], /fix: use e\.g\. http:\/\/prometheus\.monitoring:9090/);
        }
        for (const value of [
            "http://admin:hunter2@prometheus:9090",
            "https://admin:hunter2@prom.example.com",
            "http://hunter2@prometheus:9090",
        ]) {
            const found = problems({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: value });
            assert.equal(found.length, 1, value);
            assert.match(found[0], /^MODEL_RELEASE_PROMETHEUS_URL=\(set, with credentials\): carries credentials/);
            assert.ok(!found[0].includes("hunter2"), found[0]);
        }
        // Not http(s) and with a password: refused for its scheme, the value still not shown.
        for (const value of ["ftp://admin:hunter2@prometheus", "admin:hunter2@prometheus:9090", "http://u:hunter2@"]) {
            const [problem, ...rest] = problems({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: value });
            assert.deepEqual(rest, [], value);
            assert.match(problem, /^MODEL_RELEASE_PROMETHEUS_URL=\(set, not shown: .*\): is not an http\(s\) URL/);
            assert.ok(!problem.includes("hunter2"), problem);
        }
        // The start-up error, as printed, does not carry the password either.
        assert.throws(
            () => serviceSettings({ ...TOKENS, MODEL_RELEASE_PROMETHEUS_URL: "ftp://admin:hunter2@prometheus" }),
            (error: Error) =>
                error instanceof SettingsError &&
                /MODEL_RELEASE_PROMETHEUS_URL/.test(error.message) &&
                !error.message.includes("hunter2"),
        );
    });

    it("reads every setting", () => {
        const settings = serviceSettings({
            ...TOKENS,
            PORT: "9000",
            HOST: "::",
            MODEL_RELEASE_MAX_STEP: "10",
            MODEL_RELEASE_WORK_DIR: "/srv/project",
            MODEL_RELEASE_AUDIT_LOG: "/var/log/model-release/audit.log",
            MODEL_RELEASE_RATE_LIMIT: "10/30s",
            MODEL_RELEASE_LOG_LEVEL: "warn",
        });
        assert.equal(settings.port, 9000);
        assert.equal(settings.host, "::");
        assert.equal(settings.maxStep, 10);
        assert.equal(settings.policyPack, "/srv/project/policies");
        assert.equal(settings.auditLog, "/var/log/model-release/audit.log");
        assert.deepEqual(settings.rateLimit, { max: 10, windowMs: 30_000 });
        assert.equal(settings.logLevel, "warn");
        assert.deepEqual(serviceSettings({ ...TOKENS, MODEL_RELEASE_RATE_LIMIT: "100" }).rateLimit, {
            max: 100,
            windowMs: 60_000,
        });
        assert.deepEqual(serviceSettings({ ...TOKENS, MODEL_RELEASE_RATE_LIMIT: "600/1h" }).rateLimit, {
            max: 600,
            windowMs: 3_600_000,
        });
        assert.equal(serviceSettings({ ...TOKENS, HOST: "api.internal.example" }).host, "api.internal.example");
        assert.equal(serviceSettings({ ...TOKENS, MODEL_RELEASE_MAX_STEP: "" }).maxStep, 25, "empty is unset");
    });

    it("refuses MODEL_RELEASE_MAX_STEP outside 1..100, naming the variable, the value and the fix", () => {
        for (const value of ["abc", "0", "101", "1.5", "-5", "25 ", "1e2"]) {
            const [problem, ...rest] = problems({ ...TOKENS, MODEL_RELEASE_MAX_STEP: value });
            assert.deepEqual(rest, [], value);
            assert.ok(problem.startsWith(`MODEL_RELEASE_MAX_STEP=${JSON.stringify(value)}: `), problem);
            assert.match(problem, /whole number from 1 to 100 \(fix: .*e\.g\. 25\)/);
        }
    });

    it("refuses bad ports, hosts, rate limits and log levels", () => {
        const cases: [Record<string, string>, RegExp][] = [
            [{ PORT: "0" }, /^PORT="0": must be a whole number from 1 to 65535/],
            [{ PORT: "65536" }, /^PORT="65536"/],
            [{ PORT: "80a" }, /^PORT="80a"/],
            [{ HOST: "bad host" }, /^HOST="bad host": is neither an IP address nor a host name/],
            [{ HOST: "-x.example" }, /^HOST=/],
            [{ MODEL_RELEASE_RATE_LIMIT: "0" }, /^MODEL_RELEASE_RATE_LIMIT="0"/],
            [{ MODEL_RELEASE_RATE_LIMIT: "10/2d" }, /^MODEL_RELEASE_RATE_LIMIT="10\/2d".*fix: use e\.g\. 60\/1m/],
            [{ MODEL_RELEASE_RATE_LIMIT: "10/500ms" }, /^MODEL_RELEASE_RATE_LIMIT=/],
            [{ MODEL_RELEASE_RATE_LIMIT: "10/2h" }, /window from 1s to 1h/],
            [{ MODEL_RELEASE_LOG_LEVEL: "verbose" }, /^MODEL_RELEASE_LOG_LEVEL="verbose"/],
        ];
        for (const [env, message] of cases) {
            const found = problems({ ...TOKENS, ...env });
            assert.equal(found.length, 1, JSON.stringify(env));
            assert.match(found[0], message);
        }
    });

    it("lists every bad setting at once", () => {
        const found = problems({ ...TOKENS, PORT: "x", MODEL_RELEASE_MAX_STEP: "abc", HOST: "a b" });
        assert.deepEqual(
            found.map((p) => p.split("=")[0]),
            ["PORT", "HOST", "MODEL_RELEASE_MAX_STEP"],
        );
    });

    it("refuses a short legacy token without printing it, and both token variables at once", () => {
        const secret = "short-secret-value";
        const [problem] = problems({ MODEL_RELEASE_TOKEN: secret });
        assert.match(problem, /^MODEL_RELEASE_TOKEN=\(18 characters\): is 18 characters long, shorter than 32/);
        assert.ok(!problem.includes(secret));
        assert.deepEqual(serviceSettings({ MODEL_RELEASE_TOKEN: "x".repeat(32) }).legacyToken, {
            value: "x".repeat(32),
        });
        assert.deepEqual(serviceSettings({ MODEL_RELEASE_TOKEN_FILE: "/run/secrets/t" }).legacyToken, {
            file: "/run/secrets/t",
        });
        assert.match(
            problems({ MODEL_RELEASE_TOKEN: "x".repeat(32), MODEL_RELEASE_TOKEN_FILE: "/t" }).join(),
            /set together with MODEL_RELEASE_TOKEN_FILE/,
        );
    });

    it("reads JWT settings, requiring issuer, audience and exactly one key", () => {
        const jwt = {
            MODEL_RELEASE_JWT_ISSUER: "https://issuer.example",
            MODEL_RELEASE_JWT_AUDIENCE: "model-release",
            MODEL_RELEASE_JWT_JWKS_FILE: "/etc/jwks.json",
        };
        assert.deepEqual(serviceSettings(jwt).jwt, {
            issuer: "https://issuer.example",
            audience: "model-release",
            key: { jwksFile: "/etc/jwks.json" },
        });
        assert.deepEqual(
            serviceSettings({
                ...jwt,
                MODEL_RELEASE_JWT_ALGORITHMS: "ES256, RS256",
                MODEL_RELEASE_JWT_ROLE_CLAIM: "https://example.com/role",
                MODEL_RELEASE_JWT_CLOCK_TOLERANCE: "5",
            }).jwt,
            {
                issuer: "https://issuer.example",
                audience: "model-release",
                key: { jwksFile: "/etc/jwks.json" },
                algorithms: ["ES256", "RS256"],
                roleClaim: "https://example.com/role",
                clockToleranceSeconds: 5,
            },
        );
        const cases: [Record<string, string>, RegExp][] = [
            [{ MODEL_RELEASE_JWT_ISSUER: "" }, /MODEL_RELEASE_JWT_ISSUER=\(unset\): is required/],
            [{ MODEL_RELEASE_JWT_AUDIENCE: "" }, /MODEL_RELEASE_JWT_AUDIENCE=\(unset\): is required/],
            [{ MODEL_RELEASE_JWT_JWKS_FILE: "" }, /exactly one key source, got 0/],
            [{ MODEL_RELEASE_JWT_SECRET_FILE: "/s" }, /exactly one key source, got 2/],
            [{ MODEL_RELEASE_JWT_ALGORITHMS: "none" }, /MODEL_RELEASE_JWT_ALGORITHMS="none": has an unknown algorithm/],
            [{ MODEL_RELEASE_JWT_CLOCK_TOLERANCE: "3600" }, /from 0 to 300/],
            [{ MODEL_RELEASE_JWT_ROLE_CLAIM: "my role" }, /not a claim name/],
            [{ MODEL_RELEASE_JWT_AUDIENCES: "x" }, /MODEL_RELEASE_JWT_AUDIENCES="x": is not a JWT setting/],
        ];
        for (const [env, message] of cases) {
            const found = problems({ ...jwt, ...env });
            assert.equal(found.length, 1, `${JSON.stringify(env)}: ${found.join("; ")}`);
            assert.match(found[0], message);
        }
    });
});

/** Runs `npm run serve`'s entry point with `env`; resolves with its exit code and output. */
function serve(
    env: Record<string, string>,
    untilListening = false,
): Promise<{ code: number | null; output: string; child: ChildProcess }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "automation/serve.ts"], {
            cwd: path.resolve(__dirname, "../.."),
            env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...env },
        });
        let output = "";
        const collect = (chunk: Buffer) => {
            output += chunk.toString();
            if (untilListening && output.includes("model-release service listening")) {
                resolve({ code: null, output, child });
            }
        };
        child.stdout.on("data", collect);
        child.stderr.on("data", collect);
        child.on("exit", (code) => resolve({ code, output, child }));
    });
}

function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const probe = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as net.AddressInfo;
            probe.close(() => resolve(port));
        });
    });
}

describe("service start-up", function () {
    this.timeout(60_000);
    let dir: string;
    let auditLog: string;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-"));
        auditLog = path.join(dir, "audit.log");
    });

    it("refuses to start with a weak token, a bad tokens file entry or an unwritable audit log", async () => {
        const badEntry = path.join(dir, "bad-tokens.yaml");
        const pasted = randomBytes(16).toString("hex");
        fs.writeFileSync(badEntry, `tokens:\n  - { name: ci, role: admin, tokenSha256: ${pasted} }\n`);
        const good = path.join(dir, "tokens.yaml");
        fs.writeFileSync(good, `tokens:\n  - { name: ci, role: admin, tokenSha256: ${sha256Hex("t".repeat(64))} }\n`);
        const [weak, entry, audit] = await Promise.all([
            serve({ MODEL_RELEASE_TOKEN: "s3cret", MODEL_RELEASE_AUDIT_LOG: auditLog }),
            serve({ MODEL_RELEASE_TOKENS_FILE: badEntry, MODEL_RELEASE_AUDIT_LOG: auditLog }),
            serve({ MODEL_RELEASE_TOKENS_FILE: good, MODEL_RELEASE_AUDIT_LOG: path.join(dir, "no", "audit.log") }),
        ]);
        assert.equal(weak.code, 1);
        assert.match(weak.output, /MODEL_RELEASE_TOKEN=\(6 characters\): is 6 characters long, shorter than 32/);
        assert.ok(!weak.output.includes("s3cret"));
        assert.equal(entry.code, 1);
        assert.match(
            entry.output,
            /MODEL_RELEASE_TOKENS_FILE=".*bad-tokens\.yaml": tokens\[0\]\.tokenSha256 must be 64 hex digits/,
        );
        assert.ok(!entry.output.includes(pasted));
        assert.equal(audit.code, 1);
        assert.match(
            audit.output,
            /MODEL_RELEASE_AUDIT_LOG=".*no\/audit\.log": audit log .* cannot be written \(ENOENT\)/,
        );
    });

    it("starts with a tokens file, answers 401 without a token and 200 with one", async () => {
        const token = randomBytes(32).toString("hex");
        const tokens = path.join(dir, "ok-tokens.yaml");
        fs.writeFileSync(tokens, `tokens:\n  - { name: ci, role: viewer, tokenSha256: ${sha256Hex(token)} }\n`);
        const port = await freePort();
        const { child, output } = await serve(
            { MODEL_RELEASE_TOKENS_FILE: tokens, MODEL_RELEASE_AUDIT_LOG: auditLog, PORT: String(port) },
            true,
        );
        try {
            assert.match(output, /"level":30/, "structured logs");
            const url = `http://127.0.0.1:${port}/openapi.json`;
            assert.equal((await fetch(url)).status, 401);
            assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, 200);
        } finally {
            const exited = new Promise((resolve) => child.on("exit", resolve));
            child.kill("SIGTERM");
            await exited;
        }
    });
});
