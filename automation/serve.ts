/**
 * `npm run serve`: the HTTP service over this project's stacks.
 *
 * Environment (every value is checked before anything starts; see settings.ts and README,
 * Security): MODEL_RELEASE_TOKENS_FILE and/or MODEL_RELEASE_JWT_* (who may call),
 * MODEL_RELEASE_TOKEN / MODEL_RELEASE_TOKEN_FILE (deprecated single admin token, >= 32
 * characters), PORT (default 8080), HOST (default 127.0.0.1), MODEL_RELEASE_AUDIT_LOG (default
 * ./audit.log, must be writable), MODEL_RELEASE_RATE_LIMIT (default 60/1m per principal),
 * MODEL_RELEASE_LOG_LEVEL (default info), MODEL_RELEASE_WORK_DIR (the project directory, default
 * the current one), MODEL_RELEASE_POLICY_PACK (default <project>/policies),
 * MODEL_RELEASE_MAX_STEP (1..100, default 25), MODEL_RELEASE_WORKERS (engine worker processes at
 * once, default the CPU count), MODEL_RELEASE_QUEUE (engine runs that may wait, default 4 x
 * workers; beyond that 503 with Retry-After), MODEL_RELEASE_DATABASE_URL (PostgreSQL shared by
 * replicas; password in PGPASSWORD/PGPASSFILE), MODEL_RELEASE_GIT_REMOTE and _GIT_BRANCH (the git
 * config of record; one clone per stack under <work dir>/clones). SIGTERM/SIGINT close the service after the running
 * operations finish.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { AuditLog, AuditWriteError } from "./audit";
import { EnginePool } from "./engineWorkers";
import { AuthConfigError, Authenticator, JwtVerifier, TokenTable, legacyTokenEntry, loadTokensFile } from "./auth";
import { ReleaseManager } from "./releases";
import { buildServer } from "./server";
import { ServiceSettings, serviceSettings } from "./settings";
import { ConfigRepo } from "./gitConfig";
import { validStackName } from "./names";
import { PostgresStore } from "./pgStore";
import { PostgresRolloutStore } from "./pgRollouts";
import { FileRolloutStore } from "./rolloutJobs";
import { RolloutService } from "./rolloutService";
import { ReleaseStack, UnknownStackError } from "./stack";

/** A start-up failure naming the variable, its value and the fix. */
class StartError extends Error {}

function fromFile<T>(variable: string, value: string, fix: string, load: () => T): T {
    try {
        return load();
    } catch (error) {
        if (!(error instanceof AuthConfigError) && !(error instanceof AuditWriteError)) {
            throw error;
        }
        throw new StartError(`${variable}=${JSON.stringify(value)}: ${error.message} (fix: ${fix})`);
    }
}

/** Principals from the tokens file, the deprecated single token and the JWT issuer. */
function authenticatorFor(settings: ServiceSettings): { authenticator: Authenticator; legacy: boolean } {
    const entries = settings.tokensFile
        ? fromFile("MODEL_RELEASE_TOKENS_FILE", settings.tokensFile, "see README, Security: token file", () =>
              loadTokensFile(settings.tokensFile as string),
          )
        : [];
    const legacy = settings.legacyToken;
    if (legacy) {
        const [variable, shown] =
            "value" in legacy
                ? ["MODEL_RELEASE_TOKEN", `(${legacy.value.length} characters)`]
                : ["MODEL_RELEASE_TOKEN_FILE", legacy.file];
        entries.push(
            fromFile(variable, shown, "openssl rand -hex 32 > token; better, use MODEL_RELEASE_TOKENS_FILE", () =>
                legacyTokenEntry("value" in legacy ? legacy.value : readToken(legacy.file)),
            ),
        );
    }
    const jwtOptions = settings.jwt;
    let jwt: JwtVerifier | undefined;
    if (jwtOptions) {
        const key = jwtOptions.key;
        const [variable, file] =
            "jwksFile" in key
                ? ["MODEL_RELEASE_JWT_JWKS_FILE", key.jwksFile]
                : "publicKeyFile" in key
                  ? ["MODEL_RELEASE_JWT_PUBLIC_KEY_FILE", key.publicKeyFile]
                  : ["MODEL_RELEASE_JWT_SECRET_FILE", key.secretFile];
        jwt = fromFile(variable, file, "see README, Security: JWT", () => JwtVerifier.load(jwtOptions));
    }
    const tokens = fromFile(
        "MODEL_RELEASE_TOKENS_FILE",
        settings.tokensFile ?? "",
        "give every principal its own name and token",
        () => new TokenTable(entries),
    );
    return { authenticator: new Authenticator(tokens, jwt), legacy: legacy !== undefined };
}

function readToken(file: string): string {
    try {
        return fs.readFileSync(file, "utf8").trim();
    } catch (error) {
        throw new AuthConfigError(`cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
}

async function main(): Promise<void> {
    const settings = serviceSettings(process.env);
    const auditPath = path.resolve(settings.auditLog);
    const audit = fromFile(
        "MODEL_RELEASE_AUDIT_LOG",
        settings.auditLog,
        "point it at a writable file on persistent storage",
        () => AuditLog.open(auditPath),
    );
    const { authenticator, legacy } = authenticatorFor(settings);
    const workDir = path.resolve(settings.workDir);
    const policyPack = path.resolve(settings.policyPack);
    // Engine runs go to worker processes: operations on different stacks run at once.
    const engine = new EnginePool({ size: settings.workers, queueLimit: settings.queue }).warm();
    // Replicas share a PostgreSQL (locks, journals, operation records) and a git remote (the
    // config of record); a single service needs neither.
    const store = settings.databaseUrl ? await PostgresStore.connect(settings.databaseUrl) : undefined;
    await store?.migrate();
    const open = async (stackName: string): Promise<ReleaseManager> => {
        const problem = validStackName(stackName);
        if (problem !== undefined) throw new UnknownStackError(stackName);
        let projectDir = workDir;
        let git: ConfigRepo | undefined;
        if (settings.gitRemote) {
            // One clone per stack: operations on different stacks sync their clones independently.
            projectDir = path.join(workDir, "clones", stackName);
            git = await ConfigRepo.open({ remote: settings.gitRemote, dir: projectDir, branch: settings.gitBranch });
        }
        // Existing stacks only: a request naming a stack never creates it (404 instead).
        const stack = await ReleaseStack.open({ stackName, workDir: projectDir, envVars: {}, engine });
        return new ReleaseManager(stack, {
            policyPacks: [policyPack],
            maxStep: settings.maxStep,
            ...(store ? { coordinator: store.coordinator(stackName) } : {}),
            ...(git ? { git } : {}),
        });
    };
    const managers = new Map<string, Promise<ReleaseManager>>();
    const managerFor = (stackName: string): Promise<ReleaseManager> => {
        let manager = managers.get(stackName);
        if (!manager) {
            manager = open(stackName);
            managers.set(stackName, manager);
            // A failed open is not kept: the map holds only stacks that exist.
            manager.catch(() => managers.delete(stackName));
        }
        return manager;
    };
    // Rollouts are background jobs kept with the other records (PostgreSQL for replicas, else
    // the project directory); any replica resumes one whose driver is gone.
    const rollouts = new RolloutService({
        store: store ? new PostgresRolloutStore(store) : new FileRolloutStore(workDir),
        managerFor,
        maxStep: settings.maxStep,
        ...(settings.prometheusUrl !== undefined ? { prometheusUrl: settings.prometheusUrl } : {}),
        onEvent: (job, event) =>
            app.log.info(
                { rollout: job.id, stack: job.stack, release: job.release, event: event.event, percent: event.percent },
                event.detail ?? event.event,
            ),
        onError: (error, job) => app.log.error({ err: error, rollout: job?.id }, "rollout stopped unexpectedly"),
    });
    const app = buildServer({
        managerFor,
        authenticator,
        audit,
        logger: { level: settings.logLevel },
        rateLimit: settings.rateLimit,
        engine,
        rollouts,
        ...(store ? { history: (limit: number) => store.operations({ limit }) } : {}),
    });
    if (legacy) {
        app.log.warn(
            "MODEL_RELEASE_TOKEN(_FILE) is deprecated: it authenticates as the admin principal legacy-token; move callers to MODEL_RELEASE_TOKENS_FILE",
        );
    }
    const address = await app.listen({ port: settings.port, host: settings.host });
    app.log.info({ address, auditLog: auditPath }, "model-release service listening");
    await rollouts.startScanning();
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => {
            app.log.info(`${signal}: closing after ${app.operationsRunning()} running operation(s)`);
            void Promise.all([app.close(), rollouts.close()]).then(async () => {
                engine.close();
                await store?.close();
                process.exit(0);
            });
        });
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
