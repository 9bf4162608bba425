/**
 * The HTTP face of the release operations: the same library as the CLI, for platform services.
 *
 *   GET  /stacks/:stack/releases/:release           status
 *   POST /stacks/:stack/releases/:release/preview   plan only
 *   POST /stacks/:stack/releases/:release/apply     plan and apply
 *   GET  /openapi.json                              this API's OpenAPI document
 *
 * Every call needs `Authorization: Bearer <token>` (401 otherwise). Bodies are validated against
 * JSON schemas (400 naming the field). Every apply appends one JSON line to the audit log (who,
 * when, operation, traffic before -> after, result). `close()` waits for running operations: a
 * shutdown never interrupts an update mid-way.
 */
import * as fs from "node:fs";

import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { ReleaseArgs, VersionArgs } from "../components/types";
import { ReleaseConfigError } from "../components/validate";
import { BusyError, OperationPlan, RefusedError, ReleaseManager } from "./releases";

export interface ServerOptions {
    /** The manager of a stack (created once per stack by the caller). */
    managerFor: (stack: string) => Promise<ReleaseManager>;
    /** The bearer token callers present. */
    token: string;
    /** File the audit log is appended to. */
    auditLog: string;
}

/** The body of a preview or apply call. */
export interface OperationBody {
    operation: "add-candidate" | "weights" | "step" | "promote" | "rollback" | "remove";
    version?: VersionArgs;
    strategy?: ReleaseArgs["strategy"];
    weights?: number[];
    points?: number;
}

const operationSchema = {
    type: "object",
    additionalProperties: false,
    required: ["operation"],
    properties: {
        operation: { type: "string", enum: ["add-candidate", "weights", "step", "promote", "rollback", "remove"] },
        version: { type: "object", description: "add-candidate: the version (storageUri or image, labels, ...)" },
        strategy: { type: "string", enum: ["none", "blue-green", "canary", "mirror", "kserve-canary"] },
        weights: {
            type: "array",
            items: { type: "integer", minimum: 0 },
            minItems: 1,
            description: "weights: one per version",
        },
        points: { type: "integer", description: "step: points moved to the candidate (negative: back)" },
    },
} as const;

const paramsSchema = {
    type: "object",
    required: ["stack", "release"],
    properties: {
        stack: { type: "string", pattern: "^[A-Za-z0-9_.-]+$" },
        release: { type: "string", pattern: "^[a-z0-9-]+$" },
    },
} as const;

type Params = { stack: string; release: string };

/** The fields an operation needs, checked beyond the schema. */
function missingField(body: OperationBody): string | undefined {
    if (body.operation === "add-candidate" && body.version === undefined) {
        return "body/version is required for add-candidate";
    }
    if (body.operation === "weights" && body.weights === undefined) return "body/weights is required for weights";
    if (body.operation === "step" && body.points === undefined) return "body/points is required for step";
    return undefined;
}

function runOperation(
    manager: ReleaseManager,
    release: string,
    body: OperationBody,
    apply: boolean,
): Promise<OperationPlan> {
    switch (body.operation) {
        case "add-candidate":
            return manager.addCandidate(release, body.version as VersionArgs, apply, body.strategy);
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
    }
}

/** Maps library errors to HTTP answers. */
function sendError(reply: FastifyReply, error: unknown): FastifyReply {
    if (error instanceof ReleaseConfigError) return reply.code(400).send({ error: "invalid", issues: error.issues });
    if (error instanceof RefusedError) {
        return reply.code(409).send({ error: "refused", message: error.message, plan: error.plan });
    }
    if (error instanceof BusyError) return reply.code(423).send({ error: "busy", message: error.message });
    return reply.code(500).send({ error: "failed", message: error instanceof Error ? error.message : String(error) });
}

export function buildServer(options: ServerOptions): FastifyInstance & { operationsRunning: () => number } {
    // Strict bodies: unknown fields and strings for numbers are errors, not silently fixed.
    const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } });
    const running = new Set<Promise<unknown>>();

    app.addHook("onRequest", async (request, reply) => {
        if (request.headers.authorization !== `Bearer ${options.token}`) {
            await reply.code(401).send({ error: "unauthorized", message: "send Authorization: Bearer <token>" });
        }
    });
    // A closing server finishes the operations it started.
    app.addHook("onClose", async () => {
        await Promise.allSettled([...running]);
    });

    const audit = (
        request: FastifyRequest,
        params: Params,
        body: OperationBody,
        plan: Partial<OperationPlan>,
        result: string,
    ) => {
        const entry = {
            time: new Date().toISOString(),
            who: request.headers["x-actor"] ?? "bearer-token",
            stack: params.stack,
            release: params.release,
            operation: body.operation,
            request: body,
            trafficBefore: plan.trafficBefore ?? [],
            trafficAfter: plan.trafficAfter ?? [],
            result,
        };
        fs.appendFileSync(options.auditLog, `${JSON.stringify(entry)}\n`);
    };

    app.get<{ Params: Params }>(
        "/stacks/:stack/releases/:release",
        { schema: { params: paramsSchema } },
        async (request, reply) => {
            try {
                const manager = await options.managerFor(request.params.stack);
                return await manager.status(request.params.release);
            } catch (error) {
                return sendError(reply, error);
            }
        },
    );

    for (const apply of [false, true]) {
        app.post<{ Params: Params; Body: OperationBody }>(
            `/stacks/:stack/releases/:release/${apply ? "apply" : "preview"}`,
            { schema: { params: paramsSchema, body: operationSchema } },
            async (request, reply) => {
                const missing = missingField(request.body);
                if (missing) return reply.code(400).send({ error: "invalid", message: missing });
                const work = (async () => {
                    const manager = await options.managerFor(request.params.stack);
                    return runOperation(manager, request.params.release, request.body, apply);
                })();
                running.add(work);
                try {
                    const plan = await work;
                    if (apply) audit(request, request.params, request.body, plan, "applied");
                    return plan;
                } catch (error) {
                    if (apply) {
                        const plan = error instanceof RefusedError ? error.plan : {};
                        audit(
                            request,
                            request.params,
                            request.body,
                            plan,
                            `${(error as Error).name}: ${(error as Error).message}`,
                        );
                    }
                    return sendError(reply, error);
                } finally {
                    running.delete(work);
                }
            },
        );
    }

    app.get("/openapi.json", async () => openApiDocument());

    return Object.assign(app, { operationsRunning: () => running.size });
}

/** The OpenAPI document of this API. */
export function openApiDocument(): Record<string, unknown> {
    const parameters = ["stack", "release"].map((name) => ({
        name,
        in: "path",
        required: true,
        schema: { type: "string" },
    }));
    const operation = (summary: string) => ({
        summary,
        parameters,
        requestBody: { required: true, content: { "application/json": { schema: operationSchema } } },
        responses: {
            "200": { description: "the plan (applied or not)" },
            "400": { description: "invalid input, naming the field or config path" },
            "401": { description: "missing or wrong bearer token" },
            "409": { description: "refused by a guard rail" },
            "423": { description: "another operation holds the stack" },
        },
    });
    return {
        openapi: "3.0.3",
        info: { title: "model-release", version: "0.1.0", description: "Release operations on model-release stacks." },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
        security: [{ bearer: [] }],
        paths: {
            "/stacks/{stack}/releases/{release}": {
                get: {
                    summary: "Status: versions, weights, percentages",
                    parameters,
                    responses: { "200": { description: "status" }, "401": { description: "unauthorized" } },
                },
            },
            "/stacks/{stack}/releases/{release}/preview": { post: operation("Plan an operation without applying it") },
            "/stacks/{stack}/releases/{release}/apply": { post: operation("Plan and apply an operation") },
        },
    };
}
