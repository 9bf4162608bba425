/**
 * The service's environment, parsed and checked at start: a bad value stops start-up with the
 * variable, the value and the fix, instead of being ignored (MODEL_RELEASE_MAX_STEP=abc used to
 * turn the step limit off). Pure: files named here are read and checked by the caller.
 */
import { isIP } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import type { LogLevel } from "fastify";

import { JwtOptions, MIN_LEGACY_TOKEN_LENGTH } from "./auth";
import { DEFAULT_MAX_STEP } from "./operations";

export interface RateLimitSettings {
    /** Requests per window per principal (and per address for unauthenticated callers). */
    max: number;
    windowMs: number;
}

export interface ServiceSettings {
    port: number;
    host: string;
    workDir: string;
    policyPack: string;
    maxStep: number;
    auditLog: string;
    tokensFile?: string;
    /** The deprecated single admin token, given inline or as a file. */
    legacyToken?: { value: string } | { file: string };
    jwt?: JwtOptions;
    rateLimit: RateLimitSettings;
    logLevel: LogLevel;
    /** Engine worker processes at once (MODEL_RELEASE_WORKERS; default the CPU count). */
    workers: number;
    /** Engine runs that may wait for a worker (MODEL_RELEASE_QUEUE; default 4 x workers). */
    queue: number;
    /**
     * PostgreSQL for locks, journals and operation records shared by replicas
     * (MODEL_RELEASE_DATABASE_URL, no password in it: PGPASSWORD or PGPASSFILE carry it).
     */
    databaseUrl?: string;
    /** The git remote holding the stack config of record (MODEL_RELEASE_GIT_REMOTE). */
    gitRemote?: string;
    /** Its branch (MODEL_RELEASE_GIT_BRANCH; default main). */
    gitBranch: string;
    /** Prometheus of rollout checks that name none (MODEL_RELEASE_PROMETHEUS_URL). */
    prometheusUrl?: string;
}

/** One bad setting. */
export interface SettingProblem {
    variable: string;
    /** The value as given (described, not shown, for secrets). */
    value: string;
    problem: string;
    fix: string;
}

export class SettingsError extends Error {
    constructor(readonly problems: readonly SettingProblem[]) {
        super(
            `the service cannot start (${problems.length} bad setting${problems.length === 1 ? "" : "s"}):\n` +
                problems.map((p) => `  - ${p.variable}=${p.value}: ${p.problem} (fix: ${p.fix})`).join("\n"),
        );
        this.name = "SettingsError";
    }
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { max: 60, windowMs: 60_000 };
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const JWT_VARIABLES = [
    "MODEL_RELEASE_JWT_ISSUER",
    "MODEL_RELEASE_JWT_AUDIENCE",
    "MODEL_RELEASE_JWT_JWKS_FILE",
    "MODEL_RELEASE_JWT_PUBLIC_KEY_FILE",
    "MODEL_RELEASE_JWT_SECRET_FILE",
    "MODEL_RELEASE_JWT_ALGORITHMS",
    "MODEL_RELEASE_JWT_ROLE_CLAIM",
    "MODEL_RELEASE_JWT_GRANTS_CLAIM",
    "MODEL_RELEASE_JWT_NAME_CLAIM",
    "MODEL_RELEASE_JWT_CLOCK_TOLERANCE",
];
const WINDOW_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
/** A hostname (RFC 1123) when HOST is not an IP address. */
const HOSTNAME =
    /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;
const CLAIM_NAME = /^[\x21-\x7e]{1,256}$/;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads settings from `env` (an empty value counts as unset); SettingsError lists every problem. */
export function serviceSettings(env: Env): ServiceSettings {
    const problems: SettingProblem[] = [];
    const get = (variable: string): string | undefined => (env[variable] === "" ? undefined : env[variable]);
    const shown = (variable: string) => {
        const value = get(variable);
        return value === undefined ? "(unset)" : JSON.stringify(value);
    };
    const bad = (variable: string, problem: string, fix: string, value = shown(variable)) =>
        problems.push({ variable, value, problem, fix });

    const integer = (variable: string, fallback: number, min: number, max: number, fix: string): number => {
        const text = get(variable);
        if (text === undefined) return fallback;
        if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
            bad(variable, `must be a whole number from ${min} to ${max}`, fix);
            return fallback;
        }
        return Number(text);
    };

    const port = integer("PORT", 8080, 1, 65535, "use a TCP port, e.g. PORT=8080");
    const host = get("HOST") ?? "127.0.0.1";
    if (isIP(host) === 0 && !HOSTNAME.test(host)) {
        bad("HOST", "is neither an IP address nor a host name", "use e.g. HOST=127.0.0.1, HOST=0.0.0.0 or HOST=::");
    }
    const maxStep = integer(
        "MODEL_RELEASE_MAX_STEP",
        DEFAULT_MAX_STEP,
        1,
        100,
        `use the largest move of one operation in points, e.g. ${DEFAULT_MAX_STEP}`,
    );
    const workers = integer(
        "MODEL_RELEASE_WORKERS",
        os.cpus().length,
        1,
        256,
        "use the number of engine runs at once, e.g. the CPU count",
    );
    const queue = integer(
        "MODEL_RELEASE_QUEUE",
        4 * workers,
        0,
        10_000,
        "use how many engine runs may wait for a worker (0: answer 503 at once when all are busy)",
    );
    const databaseUrl = get("MODEL_RELEASE_DATABASE_URL");
    if (databaseUrl !== undefined) {
        let parsed: URL | undefined;
        try {
            parsed = new URL(databaseUrl);
        } catch {
            parsed = undefined;
        }
        if (!parsed || !/^postgres(ql)?:$/.test(parsed.protocol)) {
            bad(
                "MODEL_RELEASE_DATABASE_URL",
                "is not a postgres:// URL",
                "use postgres://<user>@<host>:<port>/<database>",
                "(set)",
            );
        } else if (parsed.password !== "") {
            bad(
                "MODEL_RELEASE_DATABASE_URL",
                "carries a password, which would show in process listings and logs",
                "remove it from the URL and set PGPASSWORD or PGPASSFILE",
                "(set, with a password)",
            );
        }
    }
    const prometheusUrl = get("MODEL_RELEASE_PROMETHEUS_URL");
    if (prometheusUrl !== undefined) {
        let parsed: URL | undefined;
        try {
            parsed = new URL(prometheusUrl);
        } catch {
            parsed = undefined;
        }
        if (!parsed || !/^https?:$/.test(parsed.protocol)) {
            // ftp://user:password@host is not http(s) either: a value with `@` is not shown.
            bad(
                "MODEL_RELEASE_PROMETHEUS_URL",
                "is not an http(s) URL",
                "use e.g. http://prometheus.monitoring:9090",
                prometheusUrl.includes("@") ? "(set, not shown: it may carry credentials)" : undefined,
            );
        } else if (parsed.username !== "" || parsed.password !== "") {
            bad(
                "MODEL_RELEASE_PROMETHEUS_URL",
                "carries credentials, which would show in logs and job records",
                "reach Prometheus through a proxy that adds them, or without credentials on the cluster network",
                "(set, with credentials)",
            );
        }
    }
    const gitRemote = get("MODEL_RELEASE_GIT_REMOTE");
    const gitBranch = get("MODEL_RELEASE_GIT_BRANCH") ?? "main";
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(gitBranch) || gitBranch.includes("..")) {
        bad("MODEL_RELEASE_GIT_BRANCH", "is not a branch name", "use e.g. main");
    }
    const workDir = get("MODEL_RELEASE_WORK_DIR") ?? ".";
    const policyPack = get("MODEL_RELEASE_POLICY_PACK") ?? path.join(workDir, "policies");
    const auditLog = get("MODEL_RELEASE_AUDIT_LOG") ?? "audit.log";

    const logLevel = (get("MODEL_RELEASE_LOG_LEVEL") ?? "info") as LogLevel;
    if (!LOG_LEVELS.includes(logLevel)) {
        bad("MODEL_RELEASE_LOG_LEVEL", "is not a log level", `use one of ${LOG_LEVELS.join(", ")}`);
    }

    let rateLimit = DEFAULT_RATE_LIMIT;
    const rate = get("MODEL_RELEASE_RATE_LIMIT");
    if (rate !== undefined) {
        const match = /^([0-9]{1,6})(?:\/([0-9]{0,4})([smh]))?$/.exec(rate);
        const max = match ? Number(match[1]) : NaN;
        const windowMs = match?.[3] ? Number(match[2] || "1") * WINDOW_UNITS[match[3]] : 60_000;
        if (!match || max < 1 || windowMs < 1000 || windowMs > 3_600_000) {
            bad(
                "MODEL_RELEASE_RATE_LIMIT",
                "must be <requests>[/<window>], at least 1 request, a window from 1s to 1h",
                "use e.g. 60/1m (60 requests per minute per principal), 10/10s or 600/1h",
            );
        } else {
            rateLimit = { max, windowMs };
        }
    }

    const tokensFile = get("MODEL_RELEASE_TOKENS_FILE");
    let legacyToken: ServiceSettings["legacyToken"];
    const inline = get("MODEL_RELEASE_TOKEN");
    const tokenFile = get("MODEL_RELEASE_TOKEN_FILE");
    if (inline !== undefined && tokenFile !== undefined) {
        bad(
            "MODEL_RELEASE_TOKEN",
            "is set together with MODEL_RELEASE_TOKEN_FILE",
            "set only one (better: neither, and use MODEL_RELEASE_TOKENS_FILE)",
            "(set)",
        );
    } else if (inline !== undefined) {
        // The token itself is never printed, only its length.
        if (inline.length < MIN_LEGACY_TOKEN_LENGTH) {
            bad(
                "MODEL_RELEASE_TOKEN",
                `is ${inline.length} characters long, shorter than ${MIN_LEGACY_TOKEN_LENGTH}`,
                "use a random token (openssl rand -hex 32), or move to MODEL_RELEASE_TOKENS_FILE",
                `(${inline.length} characters)`,
            );
        }
        legacyToken = { value: inline };
    } else if (tokenFile !== undefined) {
        legacyToken = { file: tokenFile };
    }

    const jwt = jwtSettings(get, bad);
    const jwtRequested = JWT_VARIABLES.some((v) => get(v) !== undefined);
    if (tokensFile === undefined && legacyToken === undefined && !jwtRequested) {
        bad(
            "MODEL_RELEASE_TOKENS_FILE",
            "is not set, and neither is a JWT issuer: nobody could call the service",
            "set MODEL_RELEASE_TOKENS_FILE (see README, Security) or MODEL_RELEASE_JWT_ISSUER and its key",
        );
    }
    for (const variable of Object.keys(env)) {
        if (variable.startsWith("MODEL_RELEASE_JWT_") && !JWT_VARIABLES.includes(variable)) {
            bad(variable, "is not a JWT setting", `use one of ${JWT_VARIABLES.join(", ")}`);
        }
    }

    if (problems.length > 0) throw new SettingsError(problems);
    return {
        port,
        host,
        workDir,
        policyPack,
        maxStep,
        auditLog,
        ...(tokensFile !== undefined ? { tokensFile } : {}),
        ...(legacyToken !== undefined ? { legacyToken } : {}),
        ...(jwt !== undefined ? { jwt } : {}),
        rateLimit,
        logLevel,
        workers,
        queue,
        ...(databaseUrl !== undefined ? { databaseUrl } : {}),
        ...(gitRemote !== undefined ? { gitRemote } : {}),
        gitBranch,
        ...(prometheusUrl !== undefined ? { prometheusUrl } : {}),
    };
}

function jwtSettings(
    get: (variable: string) => string | undefined,
    bad: (variable: string, problem: string, fix: string) => void,
): JwtOptions | undefined {
    if (!JWT_VARIABLES.some((v) => get(v) !== undefined)) return undefined;
    const issuer = get("MODEL_RELEASE_JWT_ISSUER");
    const audience = get("MODEL_RELEASE_JWT_AUDIENCE");
    if (issuer === undefined) {
        bad("MODEL_RELEASE_JWT_ISSUER", "is required with JWT settings", "set the issuer (iss) tokens must carry");
    }
    if (audience === undefined) {
        bad("MODEL_RELEASE_JWT_AUDIENCE", "is required with JWT settings", "set the audience (aud) tokens must name");
    }
    const sources = [
        ["MODEL_RELEASE_JWT_JWKS_FILE", "jwksFile"],
        ["MODEL_RELEASE_JWT_PUBLIC_KEY_FILE", "publicKeyFile"],
        ["MODEL_RELEASE_JWT_SECRET_FILE", "secretFile"],
    ] as const;
    const given = sources.filter(([variable]) => get(variable) !== undefined);
    if (given.length !== 1) {
        bad(
            "MODEL_RELEASE_JWT_JWKS_FILE",
            `JWT needs exactly one key source, got ${given.length}`,
            "set one of MODEL_RELEASE_JWT_JWKS_FILE, MODEL_RELEASE_JWT_PUBLIC_KEY_FILE, MODEL_RELEASE_JWT_SECRET_FILE",
        );
    }
    const algorithmsText = get("MODEL_RELEASE_JWT_ALGORITHMS");
    const algorithms = algorithmsText?.split(",").map((a) => a.trim());
    if (algorithms?.some((a) => !/^(RS|PS|ES|HS)(256|384|512)$|^EdDSA$|^Ed25519$/.test(a))) {
        bad("MODEL_RELEASE_JWT_ALGORITHMS", "has an unknown algorithm", "use e.g. RS256,ES256 (never none)");
    }
    const claims: Partial<Record<"roleClaim" | "grantsClaim" | "nameClaim", string>> = {};
    for (const [variable, key] of [
        ["MODEL_RELEASE_JWT_ROLE_CLAIM", "roleClaim"],
        ["MODEL_RELEASE_JWT_GRANTS_CLAIM", "grantsClaim"],
        ["MODEL_RELEASE_JWT_NAME_CLAIM", "nameClaim"],
    ] as const) {
        const value = get(variable);
        if (value === undefined) continue;
        if (!CLAIM_NAME.test(value)) bad(variable, "is not a claim name", "use a top-level claim name, e.g. role");
        claims[key] = value;
    }
    const toleranceText = get("MODEL_RELEASE_JWT_CLOCK_TOLERANCE");
    let clockToleranceSeconds: number | undefined;
    if (toleranceText !== undefined) {
        clockToleranceSeconds = Number(toleranceText);
        if (!/^[0-9]{1,3}$/.test(toleranceText) || clockToleranceSeconds > 300) {
            bad("MODEL_RELEASE_JWT_CLOCK_TOLERANCE", "must be whole seconds from 0 to 300", "use e.g. 30");
        }
    }
    if (issuer === undefined || audience === undefined || given.length !== 1) return undefined;
    const [variable, kind] = given[0];
    const file = get(variable) as string;
    const key =
        kind === "jwksFile"
            ? { jwksFile: file }
            : kind === "publicKeyFile"
              ? { publicKeyFile: file }
              : { secretFile: file };
    return {
        issuer,
        audience,
        key,
        ...(algorithms !== undefined ? { algorithms } : {}),
        ...claims,
        ...(clockToleranceSeconds !== undefined ? { clockToleranceSeconds } : {}),
    };
}
