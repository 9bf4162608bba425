/**
 * The service's audit log: one JSON object per line, appended and flushed to disk (fdatasync)
 * before the caller gets an answer. An apply writes an `intent` record before it starts (no
 * record, no apply) and a `result` record when it ends; refusals write a `refused` record.
 * The file is opened per record (not held open) so that log rotation by rename works.
 */
import * as fs from "node:fs";

import type { TrafficRow } from "../components/plan";
import type { Role } from "./auth";

export interface AuditRecord {
    /** ISO 8601, set by the writer. */
    time: string;
    /** The request's id (also in the response body of errors and in the server log). */
    requestId: string;
    event: "intent" | "result" | "refused";
    /** The authenticated principal; null when the caller could not be authenticated. */
    who: string | null;
    /** How `who` authenticated, and its role. */
    via?: "token" | "jwt";
    role?: Role;
    /** The `X-On-Behalf-Of` header: who the principal says it acts for (not verified). */
    onBehalfOf?: string;
    method: string;
    /** The request path (no query string). */
    path: string;
    remoteAddress?: string;
    stack?: string;
    release?: string;
    operation?: string;
    /** The operation's id in the operations log and records (result records of plans). */
    operationId?: string;
    /** The rollout job a rollout request started, cancelled or promoted. */
    rolloutId?: string;
    /** The operation's body (intent records). */
    request?: unknown;
    /** HTTP status answered (result and refused records). */
    status?: number;
    /** `applied`, or the error code answered (`refused`, `busy`, `forbidden`, ...). */
    result?: string;
    /** Why it was refused or failed (first line). */
    reason?: string;
    trafficBefore?: TrafficRow[];
    trafficAfter?: TrafficRow[];
}

/** The audit log could not be written. */
export class AuditWriteError extends Error {
    constructor(file: string, cause: unknown) {
        super(`audit log ${file} cannot be written (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`);
        this.name = "AuditWriteError";
    }
}

export class AuditLog {
    private constructor(readonly file: string) {}

    /**
     * The audit log at `file`, created if missing (mode 0600) and checked writable now, so that
     * a service that cannot record never starts.
     */
    static open(file: string): AuditLog {
        let fd: number | undefined;
        try {
            fd = fs.openSync(file, "a", 0o600);
            fs.fdatasyncSync(fd);
        } catch (error) {
            throw new AuditWriteError(file, error);
        } finally {
            if (fd !== undefined) fs.closeSync(fd);
        }
        return new AuditLog(file);
    }

    /** Appends one record and flushes it to disk; AuditWriteError if either fails. */
    async append(record: Omit<AuditRecord, "time">): Promise<void> {
        // Time, event and request id first: the fields a reader scans for.
        const { event, requestId, ...rest } = record;
        const ordered = { time: new Date().toISOString(), event, requestId, ...rest };
        const line = `${JSON.stringify(ordered)}\n`;
        let handle: fs.promises.FileHandle | undefined;
        try {
            handle = await fs.promises.open(this.file, "a", 0o600);
            await handle.appendFile(line, "utf8");
            await handle.datasync();
        } catch (error) {
            throw new AuditWriteError(this.file, error);
        } finally {
            await handle?.close().catch(() => undefined);
        }
    }
}
