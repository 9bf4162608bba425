/**
 * The HTTP face of the release operations: the same library as the CLI, for platform services.
 *
 *   GET  /stacks/:stack/releases/:release           status                 (any role)
 *   POST /stacks/:stack/releases/:release/preview   plan only              (any role)
 *   POST /stacks/:stack/releases/:release/apply     plan and apply         (admin; operator within grants)
 *   POST /stacks/:stack/releases/:release/rollouts  start the configured rollout, 202 + job (admin; operator within grants); audited
 *   GET  /stacks/:stack/releases/:release/rollouts  the release's rollout jobs, newest first (any role)
 *   GET  /stacks/:stack/releases/:release/rollouts/:id             one job: status, step, checks, events (any role)
 *   POST /stacks/:stack/releases/:release/rollouts/:id/cancel      roll back to the primary (as apply); audited
 *   POST /stacks/:stack/releases/:release/rollouts/:id/promote     promote a holding rollout (as apply); audited
 *   GET  /openapi.json                              this API's OpenAPI document, generated from the route schemas
 *
 * Every call is authenticated (401) and authorized (403) first (see auth.ts). An apply is
 * recorded in the audit log before it starts and when it ends (see audit.ts): if the intent
 * cannot be recorded, nothing is applied (503). Refusals are recorded too. Error bodies are
 * `{error, message, requestId}`; details of internal errors stay in the server log. `close()`
 * waits for running operations: a shutdown never interrupts an update mid-way.
 */
import { randomUUID } from "node:crypto";

import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { FastifyError, FastifyInstance, FastifyRequest, LogLevel } from "fastify";

import { ReleaseConfig, VersionConfig } from "../components/types";
import releaseSchema from "../schema/release.schema.json";
import { ReleaseConfigError } from "../components/validate";
import { AuditLog, AuditRecord } from "./audit";
import { AuthError, Authenticator, Principal, authorize } from "./auth";
import { UnknownReleaseError } from "./operations";
import { EngineJob, EngineQueueFullError, WorkerDiedError } from "./engineWorkers";
import { BusyError, ConflictError, OperationPlan, RefusedError, ReleaseManager } from "./releases";
import type { RateLimitSettings } from "./settings";
import { UnknownStackError } from "./stack";
import { RolloutRefusedError, RolloutStateError } from "./rollout";
import { RolloutExistsError, RolloutJob } from "./rolloutJobs";
import type { RolloutService } from "./rolloutService";

/**
 * What the service needs from a manager beyond ReleaseManager: the namespace of a release, to
 * check operators' namespace grants. Optional until ReleaseManager has it; without it an
 * operator whose namespace grants are not `*` may not apply (it fails closed).
 */
export interface NamespaceLookup {
    /** The release's namespace (its own, else the default); undefined if the release does not exist. */
    namespaceOf?(release: string): Promise<string | undefined>;
}

export type ServiceManager = ReleaseManager & NamespaceLookup;

/** Socket timeouts (ms); see DEFAULT_TIMEOUTS for why each value. */
export interface Timeouts {
    connectionTimeout: number;
    requestTimeout: number;
    keepAliveTimeout: number;
    /** How often Node checks requestTimeout (its default, 30 s, would double a 30 s limit). */
    checkInterval: number;
}

/**
 * - connectionTimeout 0: it is a socket *inactivity* timer (Node's server.timeout), and an apply
 *   sends nothing for minutes while the engine runs; a value would cut it.
 * - requestTimeout 30 s: covers receiving the request (headers and body, at most 64 KiB) only,
 *   not the handler, so slow-loris clients are dropped while long applies are not.
 * - keepAliveTimeout 72 s: idle time between requests, above the 60 s idle timeout of common
 *   load balancers (Fastify's default, made explicit).
 */
export const DEFAULT_TIMEOUTS: Timeouts = {
    connectionTimeout: 0,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    checkInterval: 5_000,
};
/** Largest request body: an operation with a full escape-hatch spec fits many times over. */
export const BODY_LIMIT = 64 * 1024;
/** Deepest nesting of objects and arrays accepted in a body (Kubernetes specs need about 12). */
export const MAX_BODY_DEPTH = 32;

export interface ServerOptions {
    /** The manager of a stack (created once per stack by the caller). */
    managerFor: (stack: string) => Promise<ServiceManager>;
    /** Turns Authorization headers into principals. */
    authenticator: Authenticator;
    /** The audit log, or its path (checked writable now). */
    audit: AuditLog | string;
    /** Structured logs (pino); off when omitted. Authorization and Cookie headers are redacted. */
    logger?: { level?: LogLevel; stream?: { write(line: string): void } };
    /** Requests per window per principal; default 60 per minute. */
    rateLimit?: RateLimitSettings;
    timeouts?: Partial<Timeouts>;
    /** Engine runs in flight and waiting (GET /operations); none listed when omitted. */
    engine?: { size: number; queueLimit: number; snapshot(): EngineJob[] };
    /** Recent operation records (PostgreSQL store), newest first, for GET /operations. */
    history?: (limit: number) => Promise<unknown[]>;
    /** Rollout jobs (automation/rolloutService.ts); the rollout routes answer 404 without it. */
    rollouts?: Pick<RolloutService, "start" | "get" | "list" | "request">;
}

/** The body of a preview or apply call. */
export interface OperationBody {
    operation: (typeof OPERATIONS)[number];
    version?: VersionConfig;
    /** apply-proposal: the proposal's branch. */
    branch?: string;
    strategy?: ReleaseConfig["strategy"];
    weights?: number[];
    points?: number;
}

type Params = { stack: string; release: string };

/** An answer other than 200, with the body's `error` code. */
class HttpError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
        readonly extra: Record<string, unknown> = {},
    ) {
        super(message);
        this.name = "HttpError";
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas. They validate requests and are the source of the OpenAPI document.

/** Object keys that would reach Object.prototype if code ever assigned them. */
const SAFE_KEY = "(?!(?:__proto__|constructor|prototype)$)";
type JsonSchema = { [key: string]: unknown };

/** The definitions derived from components/types.ts (`npm run schema`). */
const RELEASE_DEFINITIONS = (releaseSchema as { definitions: Record<string, JsonSchema> }).definitions;

/** A definition with every `#/definitions/...` reference replaced by its target (a body schema is self-contained). */
function inlined(schema: unknown): unknown {
    if (Array.isArray(schema)) return schema.map(inlined);
    if (typeof schema !== "object" || schema === null) return schema;
    const { $ref, ...rest } = schema as JsonSchema;
    const out: JsonSchema = {};
    if (typeof $ref === "string") Object.assign(out, inlined(RELEASE_DEFINITIONS[$ref.replace("#/definitions/", "")]));
    for (const [key, value] of Object.entries(rest)) out[key] = inlined(value);
    return out;
}

/** Bounds for strings the types leave unbounded, per field: what a request may carry. */
const STRING_LIMITS: Record<string, number> = { storageUri: 2048, image: 1024, annotations: 8192 };
/** Bounds for lists, per field (64 otherwise). */
const LIST_LIMITS: Record<string, number> = { match: 16 };
/** Upper bounds for numbers the types leave at MAX_SAFE_INTEGER, per field. */
const NUMBER_LIMITS: Record<string, number> = { weight: 1_000_000 };

/**
 * A map's key rule: SAFE_KEY, joined to the type's own key pattern when it has one (label and
 * annotation keys, header names: `@propertyNames` in components/types.ts), in one pattern because
 * the OpenAPI generator keeps propertyNames only. At most 317 characters, a qualified key's
 * 253 + 1 + 63.
 */
function keyNames(own: unknown): JsonSchema {
    const pattern = (own as { pattern?: unknown } | undefined)?.pattern;
    const rest = typeof pattern === "string" ? pattern.replace(/^\^/, "") : "";
    return { pattern: `^${SAFE_KEY}${rest}`, maxLength: 317 };
}

/**
 * The HTTP layer's bounds on top of the derived structure, so no body can make the service do
 * unbounded work: strings at most 4 KiB (STRING_LIMITS for some fields), lists at most 64 items
 * (LIST_LIMITS), weights at most 1e6, maps and escape-hatch specs at most 64 keys, map keys that
 * cannot reach Object.prototype and follow the type's key rule (keyNames).
 */
function bounded(schema: unknown, field?: string): unknown {
    if (Array.isArray(schema)) return schema.map((item) => bounded(item, field));
    if (typeof schema !== "object" || schema === null) return schema;
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(schema as JsonSchema)) {
        if (key === "properties") {
            out.properties = Object.fromEntries(
                Object.entries(value as JsonSchema).map(([name, property]) => [name, bounded(property, name)]),
            );
        } else {
            out[key] =
                key === "additionalProperties" || key === "items" || key === "anyOf" ? bounded(value, field) : value;
        }
    }
    if (out.type === "string" && out.maxLength === undefined) out.maxLength = STRING_LIMITS[field ?? ""] ?? 4096;
    if (out.type === "array" && out.maxItems === undefined) out.maxItems = LIST_LIMITS[field ?? ""] ?? 64;
    const numberLimit = NUMBER_LIMITS[field ?? ""];
    if ((out.type === "integer" || out.type === "number") && numberLimit !== undefined) {
        out.maximum = Math.min(typeof out.maximum === "number" ? out.maximum : Infinity, numberLimit);
    }
    // An escape-hatch spec (ObjectSpec: an object with no declared properties): its keys are capped;
    // the body limit caps the rest, and the API server validates it against the CRD.
    if (out.type === "object" && out.properties === undefined && out.additionalProperties === undefined) {
        out.maxProperties ??= 64;
    }
    if (out.type === "object" && typeof out.additionalProperties === "object") {
        // A map. The OpenAPI generator drops patternProperties, so the key rule is propertyNames.
        out.maxProperties ??= 64;
        out.propertyNames = keyNames(out.propertyNames);
    }
    return out;
}

/** VersionConfig (components/types.ts), derived: the schema editors and the config reference use too. */
const versionSchema = {
    ...(bounded(inlined(RELEASE_DEFINITIONS.VersionConfig)) as JsonSchema),
    description: "add-candidate: the new version",
};

const OPERATIONS = ["add-candidate", "weights", "step", "promote", "rollback", "remove", "apply-proposal"] as const;
/** A proposal branch as model-release names them (model-release/<stack>/<release>/<operation>-<id>). */
const PROPOSAL_BRANCH =
    "^model-release/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z-]{1,20}-[0-9a-f]{8}$";

const operationSchema = {
    type: "object",
    additionalProperties: false,
    required: ["operation"],
    properties: {
        operation: { type: "string", enum: OPERATIONS },
        version: versionSchema,
        strategy: {
            type: "string",
            enum: ["none", "blue-green", "canary", "mirror", "kserve-canary"],
            description: "add-candidate: switch the release's strategy",
        },
        weights: {
            type: "array",
            items: { type: "integer", minimum: 0, maximum: 1_000_000 },
            minItems: 1,
            maxItems: 32,
            description: "weights: one per version",
        },
        points: {
            type: "integer",
            minimum: -100,
            maximum: 100,
            description: "step: points moved to the candidate (negative: back)",
        },
        branch: {
            type: "string",
            pattern: PROPOSAL_BRANCH,
            description: "apply-proposal: the proposal's branch (from a /propose answer)",
        },
    },
} as const;

/** Which body fields each operation takes (beyond `operation`). */
const FIELDS: Record<OperationBody["operation"], { required: string[]; optional: string[] }> = {
    "add-candidate": { required: ["version"], optional: ["strategy"] },
    weights: { required: ["weights"], optional: [] },
    step: { required: ["points"], optional: [] },
    promote: { required: [], optional: [] },
    rollback: { required: [], optional: [] },
    remove: { required: [], optional: [] },
    "apply-proposal": { required: ["branch"], optional: [] },
};

/**
 * Pulumi's stack-name rules for one URL segment: letters, digits, `-`, `_`, `.`; not starting
 * with `-` (a flag to `pulumi`); not `.` or `..`; at most 100. `org/project/stack` cannot be a
 * segment.
 */
const STACK_PATTERN = "^(?!-)(?!\\.{1,2}$)[A-Za-z0-9_.-]{1,100}$";
/** Lowercase RFC 1123 label. */
const RELEASE_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

const paramsSchema = {
    type: "object",
    required: ["stack", "release"],
    additionalProperties: false,
    properties: {
        stack: { type: "string", maxLength: 100, pattern: STACK_PATTERN, description: "stack name" },
        release: { type: "string", maxLength: 63, pattern: RELEASE_PATTERN, description: "release name" },
    },
} as const;

const errorSchema = {
    type: "object",
    properties: {
        error: { type: "string", description: "machine-readable code" },
        message: { type: "string" },
        requestId: { type: "string", description: "quote it to the operators: the server log has the details" },
        issues: {
            type: "array",
            items: {
                type: "object",
                properties: { path: { type: "string" }, problem: { type: "string" }, fix: { type: "string" } },
            },
        },
        plan: { type: "object", additionalProperties: true, description: "409: the plan that was refused" },
        running: {
            type: "object",
            description: "409 busy: the operation holding the stack",
            properties: {
                operation: { type: "string" },
                release: { type: "string" },
                principal: { type: "string" },
                startedAt: { type: "string" },
                phase: { type: "string" },
            },
        },
        retryAfterSeconds: { type: "integer", description: "503 engine_busy: when to retry" },
        // Declared, or the serializer drops it from the answer.
        rollout: { type: "string", description: "409 busy (rollouts): the id of the release's active rollout" },
    },
} as const;

const trafficRow = {
    type: "object",
    additionalProperties: true,
    properties: {
        version: { type: "string" },
        role: { type: "string", enum: ["primary", "candidate"] },
        weight: { type: "number" },
        percent: { type: "integer" },
        mirrorPercent: { type: "number" },
    },
} as const;

const planSchema = {
    type: "object",
    description: "the plan (applied or not)",
    additionalProperties: true,
    properties: {
        operation: { type: "string" },
        release: { type: "string" },
        operationId: { type: "string" },
        changes: { type: "object", additionalProperties: { type: "integer" } },
        steps: {
            type: "array",
            items: {
                type: "object",
                properties: { op: { type: "string" }, type: { type: "string" }, name: { type: "string" } },
            },
        },
        trafficBefore: { type: "array", items: trafficRow },
        trafficAfter: { type: "array", items: trafficRow },
        applied: { type: "boolean" },
        commit: { type: "string", description: "git mode: the commit of this edit on the config of record" },
        proposal: {
            type: "object",
            description: "propose: the review branch, its commit and the base it is on",
            properties: { branch: { type: "string" }, sha: { type: "string" }, base: { type: "string" } },
        },
    },
} as const;

const statusSchema = {
    type: "object",
    description: "versions with configured and live percentages, readiness, drift",
    additionalProperties: true,
    properties: {
        release: { type: "string" },
        traffic: { type: "array", items: trafficRow },
        drift: { type: "boolean" },
        liveError: { type: "string" },
    },
} as const;

const errors = (codes: Record<number, string | undefined>) =>
    Object.fromEntries(
        Object.entries(codes)
            .filter(([, description]) => description !== undefined)
            .map(([code, description]) => [code, { ...errorSchema, description }]),
    );

const engineJobSchema = {
    type: "object",
    required: ["id", "label", "state", "since"],
    properties: {
        id: { type: "string" },
        label: { type: "string" },
        state: { type: "string", enum: ["running", "queued"] },
        position: { type: "integer", minimum: 1 },
        pid: { type: "integer" },
        since: { type: "string" },
    },
} as const;

const operationsSchema = {
    type: "object",
    required: ["workers", "queueLimit", "running", "queued", "recent"],
    properties: {
        workers: { type: "integer" },
        queueLimit: { type: "integer" },
        running: { type: "array", items: engineJobSchema },
        queued: { type: "array", items: engineJobSchema },
        recent: { type: "array", items: { type: "object", additionalProperties: true } },
    },
} as const;

const checkResultSchema = {
    type: "object",
    additionalProperties: false,
    properties: {
        name: { type: "string" },
        kind: { type: "string", enum: ["prometheus", "webhook"] },
        outcome: { type: "string", enum: ["pass", "fail", "inconclusive"] },
        value: { type: "number" },
        min: { type: "number" },
        max: { type: "number" },
        query: { type: "string" },
        status: { type: "integer" },
        reason: { type: "string" },
    },
} as const;

const rolloutJobSchema = {
    type: "object",
    description: "a rollout job: where it stands, its checks and its events (newest last)",
    additionalProperties: false,
    properties: {
        id: { type: "string" },
        stack: { type: "string" },
        release: { type: "string" },
        principal: { type: "string", description: "who started it; every step runs as this principal" },
        createdAt: { type: "string" },
        updatedAt: { type: "string" },
        status: {
            type: "string",
            enum: ["running", "paused", "holding", "promoted", "rolled-back", "cancelled", "failed", "aborted"],
        },
        phase: { type: "string", enum: ["apply", "wait", "judge", "finish", "rollback", "done"] },
        steps: { type: "array", items: { type: "integer" }, description: "candidate percent of each step" },
        iterations: { type: "integer" },
        step: { type: "integer", description: "0-based index of the current step" },
        percent: { type: "integer", description: "the candidate's percent in the config of record" },
        startPercent: { type: "integer" },
        failures: { type: "integer" },
        waitUntil: { type: "string", description: "when the current step is judged" },
        reason: { type: "string", description: "why it is paused, failed, rolled back or aborted" },
        checks: { type: "array", items: checkResultSchema },
        driven: { type: "boolean", description: "whether a replica drives it now" },
        requested: {
            type: "object",
            properties: { action: { type: "string" }, by: { type: "string" }, at: { type: "string" } },
        },
        events: {
            type: "array",
            items: {
                type: "object",
                additionalProperties: false,
                properties: {
                    time: { type: "string" },
                    event: { type: "string" },
                    step: { type: "integer" },
                    percent: { type: "integer" },
                    detail: { type: "string" },
                    checks: { type: "array", items: checkResultSchema },
                    operationId: { type: "string" },
                },
            },
        },
    },
} as const;

/** A job as callers see it: who drives it is said, not which host or process. */
function publicJob(job: RolloutJob): Omit<RolloutJob, "owner" | "heartbeatAt" | "handledRequestAt"> & {
    driven: boolean;
} {
    const { owner, heartbeatAt: _beat, handledRequestAt: _handled, ...rest } = job;
    void _beat;
    void _handled;
    return { ...rest, driven: owner !== undefined };
}

const rolloutParamsSchema = {
    type: "object",
    required: ["stack", "release", "id"],
    additionalProperties: false,
    properties: {
        ...paramsSchema.properties,
        id: { type: "string", pattern: "^[0-9a-f-]{36}$", description: "rollout job id" },
    },
} as const;

const commonErrors = {
    400: "invalid input, naming the field or config path",
    401: "missing, unknown or expired credential",
    404: "no such stack or release",
    413: "body larger than 64 KiB",
    429: "rate limit of this principal exceeded",
    500: "internal error (details in the server log, by requestId)",
};

// ---------------------------------------------------------------------------------------------

/** What the hooks learn about a request. */
interface RequestState {
    principal?: Principal;
    authError?: string;
    onBehalfOf?: string;
    operation?: string;
    /** A result record was written: no separate refusal record. */
    audited?: boolean;
}

/** Answers recorded as refusals when no apply record covers them. */
const AUDITED_REFUSALS = new Set([401, 403, 409, 429]);
/** Retry-After of a 503 when every engine worker is busy and the queue is full. */
const RETRY_AFTER_SECONDS = 10;
const ON_BEHALF_OF = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

/** First line of a library message, without file paths or host:port addresses. */
function publicText(message: string): string {
    return message
        .split("\n")[0]
        .replace(/(?:[A-Za-z]:)?(?:[\\/][^\s\\/'"`,;:()]+){2,}[\\/]?/g, "<path>")
        .replace(
            /\b(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}):\d{1,5}\b/g,
            "<address>",
        )
        .slice(0, 500);
}

function firstLine(error: unknown): string {
    return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).split("\n")[0].slice(0, 1000);
}

/** The HTTP answer to an error. Internal errors get a generic message: details go to the log. */
function classify(error: unknown, params: Partial<Params>): HttpError {
    if (error instanceof HttpError) return error;
    if (error instanceof AuthError) return new HttpError(401, "unauthorized", error.message);
    if (error instanceof UnknownReleaseError) {
        return new HttpError(404, "not_found", `release ${params.release} does not exist in stack ${params.stack}`, {
            issues: error.issues,
        });
    }
    if (error instanceof UnknownStackError) {
        return new HttpError(404, "not_found", `stack ${params.stack} does not exist`);
    }
    if (error instanceof ReleaseConfigError) {
        return new HttpError(400, "invalid", "invalid release configuration", { issues: error.issues });
    }
    if (error instanceof RefusedError) {
        return new HttpError(409, "refused", publicText(error.message), { plan: error.plan });
    }
    if (error instanceof BusyError) {
        // The message names the running operation and who runs it (no process ids or hosts).
        const h = error.holder;
        const running = h
            ? {
                  operation: h.operation,
                  release: h.release,
                  principal: h.principal,
                  startedAt: h.startedAt,
                  ...(h.phase ? { phase: h.phase } : {}),
              }
            : undefined;
        return new HttpError(409, "busy", error.publicMessage, running ? { running } : {});
    }
    if (error instanceof ConflictError) {
        return new HttpError(409, "conflict", publicText(error.message));
    }
    if (error instanceof RolloutRefusedError) return new HttpError(409, "refused", publicText(error.message));
    if (error instanceof RolloutStateError) return new HttpError(409, "conflict", publicText(error.message));
    if (error instanceof RolloutExistsError) {
        const e = error.existing;
        return new HttpError(
            409,
            "busy",
            `release ${e.release} of stack ${e.stack} already has an active rollout ${e.id} (${e.status}); cancel it first or let it finish`,
            { rollout: e.id },
        );
    }
    if (error instanceof WorkerDiedError) {
        // Not the caller's fault and nothing secret: say what happened and that it was recovered.
        return new HttpError(500, "engine_failed", `${publicText(error.message)}; the stack was recovered, retry`);
    }
    if (error instanceof EngineQueueFullError) {
        return new HttpError(503, "engine_busy", error.message, { retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    const fastifyError = error as Partial<FastifyError>;
    if (fastifyError.validation) return new HttpError(400, "invalid", String(fastifyError.message));
    if (fastifyError.statusCode === 429) {
        return new HttpError(429, "rate_limited", String(fastifyError.message));
    }
    if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
        return new HttpError(413, "too_large", `the body is larger than ${BODY_LIMIT} bytes`);
    }
    // Fastify's own client errors (bad JSON, prototype poisoning, media type) are safe to show.
    const status = fastifyError.statusCode ?? 500;
    if (fastifyError.code?.startsWith("FST_") && status >= 400 && status < 500) {
        return new HttpError(
            status,
            status === 415 ? "unsupported_media_type" : "invalid",
            publicText(String(fastifyError.message)),
        );
    }
    return new HttpError(500, "internal", "internal error; the server log has the details under this requestId");
}

/** Whether a parsed body nests objects/arrays deeper than `limit` (iterative: no recursion to exhaust). */
function deeperThan(value: unknown, limit: number): boolean {
    const pending: [unknown, number][] = [[value, 1]];
    while (pending.length > 0) {
        const [item, depth] = pending.pop() as [unknown, number];
        if (typeof item !== "object" || item === null) continue;
        if (depth > limit) return true;
        for (const child of Object.values(item)) pending.push([child, depth + 1]);
    }
    return false;
}

/** A field the operation needs but lacks, or has but does not use. */
function bodyProblem(body: OperationBody): string | undefined {
    const { required, optional } = FIELDS[body.operation];
    for (const field of required) {
        if (!Object.hasOwn(body, field)) return `body/${field} is required for ${body.operation}`;
    }
    for (const field of Object.keys(body)) {
        if (field !== "operation" && !required.includes(field) && !optional.includes(field)) {
            return `body/${field} is not used by ${body.operation}; remove it`;
        }
    }
    return undefined;
}

function runOperation(
    manager: ReleaseManager,
    release: string,
    body: OperationBody,
    apply: boolean | "propose",
): Promise<OperationPlan> {
    switch (body.operation) {
        case "add-candidate":
            return manager.addCandidate(release, body.version as VersionConfig, apply, body.strategy);
        case "weights":
            return manager.setWeights(release, body.weights as number[], apply);
        case "step":
            return manager.step(release, body.points as number, apply);
        case "promote":
            return manager.promote(release, apply);
        case "rollback":
            return manager.rollback(release, apply);
        case "remove":
            return manager.remove(release, apply);
        case "apply-proposal":
            if (apply === "propose") throw new HttpError(400, "invalid", "a proposal cannot be proposed again");
            return manager.applyProposal(release, body.branch as string, apply);
    }
}

export function buildServer(options: ServerOptions): FastifyInstance & { operationsRunning: () => number } {
    const audit = typeof options.audit === "string" ? AuditLog.open(options.audit) : options.audit;
    const limits = options.rateLimit ?? { max: 60, windowMs: 60_000 };
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const app = Fastify({
        connectionTimeout: timeouts.connectionTimeout,
        requestTimeout: timeouts.requestTimeout,
        keepAliveTimeout: timeouts.keepAliveTimeout,
        http: {
            requestTimeout: timeouts.requestTimeout,
            headersTimeout: timeouts.requestTimeout,
            connectionsCheckingInterval: timeouts.checkInterval,
        },
        bodyLimit: BODY_LIMIT,
        // Ids are not taken from callers' headers: they name audit records.
        genReqId: () => randomUUID(),
        logger: options.logger
            ? {
                  level: options.logger.level ?? "info",
                  ...(options.logger.stream ? { stream: options.logger.stream } : {}),
                  redact: {
                      paths: [
                          "req.headers.authorization",
                          "req.headers.cookie",
                          'req.headers["proxy-authorization"]',
                          'res.headers["set-cookie"]',
                      ],
                      censor: "[redacted]",
                  },
                  serializers: {
                      req: (request: FastifyRequest) => ({
                          method: request.method,
                          url: request.url,
                          headers: request.headers,
                          remoteAddress: request.ip,
                      }),
                  },
              }
            : false,
        // Strict bodies: unknown fields and strings for numbers are errors, not silently fixed.
        ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    });
    const running = new Set<Promise<unknown>>();
    const states = new WeakMap<FastifyRequest, RequestState>();
    const state = (request: FastifyRequest): RequestState => {
        let s = states.get(request);
        if (!s) states.set(request, (s = {}));
        return s;
    };
    /** Keys whose 429 is already recorded, until their window ends (a flood writes one record). */
    const rateAudited = new Map<string, number>();
    const rateKey = (request: FastifyRequest) => {
        const principal = state(request).principal;
        return principal ? `principal:${principal.name}` : `address:${request.ip}`;
    };

    const baseRecord = (request: FastifyRequest): Omit<AuditRecord, "time" | "event"> => {
        const s = state(request);
        const params = (request.params ?? {}) as Partial<Params>;
        return {
            requestId: request.id,
            who: s.principal?.name ?? null,
            ...(s.principal ? { via: s.principal.via, role: s.principal.role } : {}),
            ...(s.onBehalfOf !== undefined ? { onBehalfOf: s.onBehalfOf } : {}),
            method: request.method,
            path: request.url.split("?")[0].slice(0, 512),
            remoteAddress: request.ip,
            ...(typeof params.stack === "string" ? { stack: params.stack.slice(0, 128) } : {}),
            ...(typeof params.release === "string" ? { release: params.release.slice(0, 128) } : {}),
            ...(s.operation !== undefined ? { operation: s.operation } : {}),
        };
    };

    // 1. Authentication. It never answers here: the rate limit (next, keyed by principal or
    //    address) counts failed attempts too, and the 401 is sent in preParsing, before any
    //    body is read.
    app.addHook("onRequest", async (request, reply) => {
        reply.header("x-request-id", request.id);
        try {
            state(request).principal = await options.authenticator.authenticate(request.headers.authorization);
        } catch (error) {
            if (!(error instanceof AuthError)) throw error;
            state(request).authError = error.message;
        }
    });

    app.addHook("preParsing", async (request) => {
        const s = state(request);
        if (!s.principal) throw new HttpError(401, "unauthorized", s.authError ?? "unauthorized");
        const onBehalfOf = request.headers["x-on-behalf-of"];
        if (onBehalfOf !== undefined) {
            if (typeof onBehalfOf !== "string" || !ON_BEHALF_OF.test(onBehalfOf)) {
                throw new HttpError(
                    400,
                    "invalid",
                    "X-On-Behalf-Of must be one printable value of at most 256 characters",
                );
            }
            s.onBehalfOf = onBehalfOf;
        }
        request.log.info(
            { principal: s.principal.name, via: s.principal.via, role: s.principal.role },
            "authenticated",
        );
    });

    // Nesting is checked before the schema and before anything copies or serializes the body.
    app.addHook("preValidation", async (request) => {
        if (deeperThan(request.body, MAX_BODY_DEPTH)) {
            throw new HttpError(400, "invalid", `the body nests deeper than ${MAX_BODY_DEPTH} levels`);
        }
    });

    app.setErrorHandler(async (error, request, reply) => {
        const params = (request.params ?? {}) as Partial<Params>;
        const answer = classify(error, params);
        if (answer.status >= 500) {
            request.log.error({ err: error }, "request failed");
        } else {
            request.log.info({ status: answer.status, reason: firstLine(error) }, "request refused");
        }
        if (answer.status === 401) reply.header("www-authenticate", 'Bearer realm="model-release"');
        if (answer.code === "engine_busy") reply.header("retry-after", String(RETRY_AFTER_SECONDS));
        return reply
            .code(answer.status)
            .send({ error: answer.code, message: answer.message, requestId: request.id, ...answer.extra });
    });

    app.setNotFoundHandler(async (request) => {
        if (!state(request).principal) throw new HttpError(401, "unauthorized", state(request).authError ?? "");
        throw new HttpError(404, "not_found", "no such route");
    });

    // Refusals are recorded before they are answered; a refusal that cannot be recorded is still
    // a refusal (nothing happened), so it is answered and the failure logged.
    app.addHook("onSend", async (request, reply, payload) => {
        const s = state(request);
        if (s.audited || !AUDITED_REFUSALS.has(reply.statusCode)) return payload;
        if (reply.statusCode === 429) {
            const key = rateKey(request);
            const now = Date.now();
            if ((rateAudited.get(key) ?? 0) > now) return payload;
            if (rateAudited.size > 10_000) {
                for (const [k, until] of rateAudited) if (until <= now) rateAudited.delete(k);
            }
            rateAudited.set(key, now + limits.windowMs);
        }
        let body: { error?: string; message?: string } = {};
        try {
            if (typeof payload === "string") body = JSON.parse(payload) as typeof body;
        } catch {
            // Not one of this service's error bodies: the status alone is recorded.
        }
        try {
            await audit.append({
                ...baseRecord(request),
                event: "refused",
                status: reply.statusCode,
                ...(body.error ? { result: body.error } : {}),
                ...(body.message ? { reason: body.message } : {}),
            });
        } catch (error) {
            request.log.error({ err: error }, "refusal not recorded in the audit log");
        }
        return payload;
    });

    // A closing server finishes the operations it started.
    app.addHook("onClose", async () => {
        await Promise.allSettled([...running]);
    });

    const track = <T>(work: Promise<T>): Promise<T> => {
        running.add(work);
        return work.finally(() => running.delete(work));
    };

    void app.register(rateLimit, {
        global: true,
        hook: "onRequest",
        max: limits.max,
        timeWindow: limits.windowMs,
        keyGenerator: rateKey,
    });

    void app.register(swagger, {
        openapi: {
            openapi: "3.1.0",
            info: {
                title: "model-release",
                version: "0.1.0",
                description: "Release operations on model-release stacks (see README, Security).",
            },
            components: {
                securitySchemes: {
                    bearer: { type: "http", scheme: "bearer", description: "a token of the tokens file, or a JWT" },
                },
            },
            security: [{ bearer: [] }],
        },
    });

    // Routes after the plugins, so the rate limit and the document see every one of them.
    void app.register(async (api) => {
        /** The manager of the request's stack, created on first use (not for refused callers). */
        const managerOf = (stack: string) => {
            let manager: Promise<ServiceManager> | undefined;
            return () => (manager ??= options.managerFor(stack));
        };

        const authorized = async (
            request: FastifyRequest<{ Params: Params }>,
            apply: boolean,
            manager: () => Promise<ServiceManager>,
        ): Promise<Principal> => {
            const principal = state(request).principal as Principal;
            const { stack, release } = request.params;
            const refusal = await authorize(principal, apply ? "apply" : "read", {
                stack,
                release,
                namespace: async () => {
                    const m = await manager();
                    if (typeof m.namespaceOf !== "function") return undefined;
                    const namespace = await m.namespaceOf(release);
                    if (namespace === undefined) {
                        throw new HttpError(404, "not_found", `release ${release} does not exist in stack ${stack}`);
                    }
                    return namespace;
                },
            });
            if (refusal !== undefined) throw new HttpError(403, "forbidden", refusal);
            return principal;
        };

        api.get<{ Params: Params }>(
            "/stacks/:stack/releases/:release",
            {
                schema: {
                    summary: "Status: versions, configured and live percentages, readiness, drift",
                    params: paramsSchema,
                    response: { 200: statusSchema, ...errors(commonErrors) },
                },
            },
            async (request) => {
                const manager = managerOf(request.params.stack);
                await authorized(request, false, manager);
                return (await manager()).status(request.params.release);
            },
        );

        const modes = [
            { route: "preview", mode: false, summary: "Plan an operation without applying it" },
            {
                route: "apply",
                mode: true,
                summary: "Plan and apply an operation (admin; operator within its grants); audited",
            },
            {
                route: "propose",
                mode: "propose",
                summary:
                    "Git mode: plan an operation and push its edit to a review branch instead of applying it (admin; operator within its grants); audited",
            },
        ] as const;
        for (const { route, mode, summary } of modes) {
            const apply = mode !== false;
            api.post<{ Params: Params; Body: OperationBody }>(
                `/stacks/:stack/releases/:release/${route}`,
                {
                    schema: {
                        summary,
                        params: paramsSchema,
                        body: operationSchema,
                        response: {
                            200: planSchema,
                            ...errors({
                                ...commonErrors,
                                403: "the principal may not apply here (role or grants)",
                                409: "refused by a guard rail (refused), another operation holds the stack (busy, naming it), or the config of record changed meanwhile (conflict); nothing was applied",
                                503: apply
                                    ? "every engine worker is busy and the queue is full (engine_busy, Retry-After), or the audit log cannot be written (audit_unavailable); nothing was applied"
                                    : "every engine worker is busy and the queue is full (engine_busy, Retry-After)",
                            }),
                        },
                    },
                },
                async (request) => {
                    const s = state(request);
                    const { release } = request.params;
                    const body = request.body;
                    s.operation = body.operation;
                    const problem = bodyProblem(body);
                    if (problem !== undefined) throw new HttpError(400, "invalid", problem);
                    const manager = managerOf(request.params.stack);
                    const principal = await authorized(request, apply, manager);
                    // The journal and operations log name the caller, not the service.
                    const acting = (await manager()).as(principal.name);
                    if (!apply) return track(runOperation(acting, release, body, false));
                    if (mode === "propose" && body.operation === "apply-proposal") {
                        throw new HttpError(
                            400,
                            "invalid",
                            "body/operation apply-proposal goes to /apply, not /propose",
                        );
                    }

                    try {
                        await audit.append({ ...baseRecord(request), event: "intent", request: body });
                    } catch (error) {
                        request.log.error({ err: error }, "audit intent not recorded: apply refused");
                        throw new HttpError(
                            503,
                            "audit_unavailable",
                            "the audit log cannot be written, so nothing was applied; retry later",
                        );
                    }
                    s.audited = true;
                    let plan: OperationPlan | undefined;
                    let failure: unknown;
                    try {
                        plan = await track(runOperation(acting, release, body, mode));
                        return plan;
                    } catch (error) {
                        failure = error;
                        throw error;
                    } finally {
                        const answer = plan ? undefined : classify(failure, request.params);
                        const traffic = plan ?? (failure instanceof RefusedError ? failure.plan : undefined);
                        try {
                            await audit.append({
                                ...baseRecord(request),
                                event: "result",
                                status: answer?.status ?? 200,
                                result: plan
                                    ? plan.applied
                                        ? "applied"
                                        : plan.proposal
                                          ? "proposed"
                                          : "not-applied"
                                    : answer?.code,
                                ...(failure !== undefined ? { reason: firstLine(failure) } : {}),
                                ...(traffic?.operationId ? { operationId: traffic.operationId } : {}),
                                ...(traffic
                                    ? { trafficBefore: traffic.trafficBefore, trafficAfter: traffic.trafficAfter }
                                    : {}),
                            });
                        } catch (error) {
                            // Applied (or failed) already: the intent record stands for it.
                            request.log.error({ err: error }, "audit result not recorded");
                        }
                    }
                },
            );
        }

        const rolloutsOf = () => {
            if (!options.rollouts) throw new HttpError(404, "not_found", "this service runs no rollouts");
            return options.rollouts;
        };

        /** Runs an audited rollout action (start, cancel, promote): intent, then result. */
        const auditedRollout = async (
            request: FastifyRequest<{ Params: Params }>,
            action: string,
            work: () => Promise<RolloutJob>,
        ) => {
            const s = state(request);
            s.operation = action;
            try {
                await audit.append({ ...baseRecord(request), event: "intent", request: { operation: action } });
            } catch (error) {
                request.log.error({ err: error }, "audit intent not recorded: rollout refused");
                throw new HttpError(
                    503,
                    "audit_unavailable",
                    "the audit log cannot be written, so nothing was done; retry later",
                );
            }
            s.audited = true;
            let job: RolloutJob | undefined;
            let failure: unknown;
            try {
                job = await work();
                return publicJob(job);
            } catch (error) {
                failure = error;
                throw error;
            } finally {
                const answer = job ? undefined : classify(failure, request.params);
                await audit
                    .append({
                        ...baseRecord(request),
                        event: "result",
                        status: answer?.status ?? 202,
                        result: job ? "accepted" : answer?.code,
                        ...(failure !== undefined ? { reason: firstLine(failure) } : {}),
                        ...(job ? { rolloutId: job.id } : {}),
                    })
                    .catch((error: unknown) => request.log.error({ err: error }, "audit result not recorded"));
            }
        };

        const rolloutErrors = errors({
            ...commonErrors,
            403: "the principal may not apply here (role or grants)",
            409: "the rollout cannot run (refused: no candidate, no rollout config, a step beyond the step limit), one is active already (busy), or the job is not in a state for this (conflict)",
            503: "the audit log cannot be written (audit_unavailable); nothing was done",
        });

        api.post<{ Params: Params }>(
            "/stacks/:stack/releases/:release/rollouts",
            {
                schema: {
                    summary:
                        "Start the release's configured rollout as a background job (admin; operator within its grants); audited",
                    params: paramsSchema,
                    response: { 202: rolloutJobSchema, ...rolloutErrors },
                },
            },
            async (request, reply) => {
                const rollouts = rolloutsOf();
                // Named before authorization, so a refusal record says what was refused.
                state(request).operation = "rollout";
                const manager = managerOf(request.params.stack);
                const principal = await authorized(request, true, manager);
                await manager();
                reply.code(202);
                return auditedRollout(request, "rollout", () =>
                    rollouts.start(request.params.stack, request.params.release, principal.name),
                );
            },
        );

        api.get<{ Params: Params }>(
            "/stacks/:stack/releases/:release/rollouts",
            {
                schema: {
                    summary: "The release's rollout jobs, newest first",
                    params: paramsSchema,
                    response: {
                        200: { type: "object", properties: { rollouts: { type: "array", items: rolloutJobSchema } } },
                        ...errors(commonErrors),
                    },
                },
            },
            async (request) => {
                const rollouts = rolloutsOf();
                const manager = managerOf(request.params.stack);
                await authorized(request, false, manager);
                await manager();
                const jobs = await rollouts.list(request.params.stack, request.params.release);
                return { rollouts: jobs.map(publicJob) };
            },
        );

        const jobOf = async (request: FastifyRequest<{ Params: Params & { id: string } }>) => {
            const job = await rolloutsOf().get(request.params.stack, request.params.release, request.params.id);
            if (!job) throw new HttpError(404, "not_found", `no rollout ${request.params.id} of this release`);
            return job;
        };

        api.get<{ Params: Params & { id: string } }>(
            "/stacks/:stack/releases/:release/rollouts/:id",
            {
                schema: {
                    summary: "One rollout job: status, step, percent, checks, events",
                    params: rolloutParamsSchema,
                    response: { 200: rolloutJobSchema, ...errors(commonErrors) },
                },
            },
            async (request) => {
                const manager = managerOf(request.params.stack);
                await authorized(request, false, manager);
                return publicJob(await jobOf(request));
            },
        );

        for (const action of ["cancel", "promote"] as const) {
            api.post<{ Params: Params & { id: string } }>(
                `/stacks/:stack/releases/:release/rollouts/:id/${action}`,
                {
                    schema: {
                        summary:
                            action === "cancel"
                                ? "Cancel a rollout: all traffic back on the primary, the candidate kept; audited"
                                : "Promote a rollout holding at its last step (onSuccess: hold); audited",
                        params: rolloutParamsSchema,
                        response: { 202: rolloutJobSchema, ...rolloutErrors },
                    },
                },
                async (request, reply) => {
                    const rollouts = rolloutsOf();
                    state(request).operation = `rollout-${action}`;
                    const manager = managerOf(request.params.stack);
                    const principal = await authorized(request, true, manager);
                    await jobOf(request);
                    reply.code(202);
                    const { stack, release, id } = request.params;
                    return auditedRollout(request, `rollout-${action}`, () =>
                        rollouts.request(stack, release, id, action, principal.name),
                    );
                },
            );
        }

        api.get(
            "/operations",
            {
                schema: {
                    summary: "Engine runs in flight and queued (with their position), and recent operations (admin)",
                    response: { 200: operationsSchema, ...errors({ 401: commonErrors[401], 403: "admins only" }) },
                },
            },
            async (request) => {
                const principal = state(request).principal as Principal;
                if (principal.role !== "admin") {
                    throw new HttpError(403, "forbidden", "only admins may list every stack's operations");
                }
                const jobs = options.engine?.snapshot() ?? [];
                return {
                    workers: options.engine?.size ?? 1,
                    queueLimit: options.engine?.queueLimit ?? 0,
                    running: jobs.filter((j) => j.state === "running"),
                    queued: jobs.filter((j) => j.state === "queued"),
                    recent: options.history ? await options.history(50) : [],
                };
            },
        );

        // Same authentication as every route: the document is for callers.
        api.get("/openapi.json", { schema: { hide: true } }, async () => api.swagger());
    });

    return Object.assign(app, { operationsRunning: () => running.size });
}
