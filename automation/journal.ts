/**
 * What makes release operations atomic and recoverable on one machine, kept beside the project in
 * `.model-release/`:
 * - a lock per stack shared by every process (CLI, service, library): a lock directory whose
 *   mtime its holder refreshes (proper-lockfile); a holder that dies stops refreshing it and the
 *   lock goes stale, so a dead process cannot keep it;
 * - a journal of the running operation (who, what, phase), written before anything else and
 *   removed when the operation ends: one left behind means its process died mid-way, and the
 *   next operation recovers first;
 * - an operations log (JSON lines, flushed before going on) of every start, end and recovery.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as lockfile from "proper-lockfile";

import { writeFileAtomic } from "./stackConfig";

/** How long a lock survives its holder (ms): the holder refreshes it every STALE_MS / 4. */
export const STALE_MS = 10_000;

/**
 * The stale time in effect: MODEL_RELEASE_LOCK_STALE_MS (2,000 to 600,000), else STALE_MS. Every
 * process on a machine should use the same value: a holder refreshes at a quarter of its own.
 */
export function staleMs(env: NodeJS.ProcessEnv = process.env): number {
    const raw = env.MODEL_RELEASE_LOCK_STALE_MS;
    if (raw === undefined || raw === "") return STALE_MS;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < 2_000 || value > 600_000) {
        throw new Error(
            `MODEL_RELEASE_LOCK_STALE_MS=${JSON.stringify(raw)} is not a whole number of milliseconds from 2000 to 600000 (fix: unset it for the default ${STALE_MS})`,
        );
    }
    return value;
}

/** Phases of an operation, in order (`push`: git mode, the commit is being pushed). */
export type Phase = "edit" | "preview" | "push" | "up" | "commit";

/** The journal of a running operation. */
export interface JournalEntry {
    id: string;
    operation: string;
    release: string;
    principal: string;
    pid: number;
    hostname: string;
    startedAt: string;
    phase: Phase;
}

/** One line of the operations log. */
export interface OperationRecord {
    time: string;
    event: "started" | "finished" | "failed" | "recovered";
    id: string;
    operation: string;
    release: string;
    principal: string;
    stack: string;
    detail?: string;
}

/** Thrown when the lock is held by another live operation. */
export class LockBusyError extends Error {
    constructor(
        message: string,
        readonly holder?: JournalEntry,
    ) {
        super(message);
        this.name = "LockBusyError";
    }
}

/** The files of one stack in a project directory. */
export class StackFiles {
    readonly dir: string;

    constructor(
        workDir: string,
        /** The stack's name (its short form names the files). */
        readonly stack: string,
        /** How long the lock survives a holder that stopped refreshing it (ms). */
        private readonly staleAfterMs = staleMs(),
    ) {
        this.dir = path.join(workDir, ".model-release");
    }

    private get base(): string {
        return path.join(this.dir, this.stack.split("/").pop() ?? this.stack);
    }

    get lockTarget(): string {
        return `${this.base}.stack`;
    }

    get journalFile(): string {
        return `${this.base}.journal.json`;
    }

    get logFile(): string {
        return `${this.base}.operations.log`;
    }

    /**
     * Takes the stack's lock or throws LockBusyError naming the running operation. `onLost` is
     * called if the lock is taken away (this process was frozen past the stale time).
     */
    async lock(onLost: (error: Error) => void): Promise<() => Promise<void>> {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        try {
            return await lockfile.lock(this.lockTarget, {
                realpath: false,
                stale: this.staleAfterMs,
                update: this.staleAfterMs / 4,
                retries: 0,
                onCompromised: onLost,
            });
        } catch (error) {
            if ((error as { code?: string }).code !== "ELOCKED") throw error;
            const holder = this.readJournal();
            const what = holder
                ? `${holder.operation} of ${holder.release} by ${holder.principal} (pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}, ${holder.phase})`
                : "another operation";
            throw new LockBusyError(`${what} is running`, holder);
        }
    }

    /** The journal left on disk, if any. */
    readJournal(): JournalEntry | undefined {
        try {
            return JSON.parse(fs.readFileSync(this.journalFile, "utf8")) as JournalEntry;
        } catch (error) {
            if ((error as { code?: string }).code === "ENOENT") return undefined;
            // A torn journal (killed while writing is impossible with rename, but a disk can fail):
            // still an interrupted operation to recover.
            return {
                id: "unknown",
                operation: "unknown",
                release: "unknown",
                principal: "unknown",
                pid: 0,
                hostname: os.hostname(),
                startedAt: new Date(0).toISOString(),
                phase: "edit",
            };
        }
    }

    /** Starts a journal for an operation. */
    begin(operation: string, release: string, principal: string): JournalEntry {
        const entry = newJournalEntry(operation, release, principal);
        this.writeJournal(entry);
        return entry;
    }

    /** Moves the journal to a later phase. */
    advance(entry: JournalEntry, phase: Phase): void {
        entry.phase = phase;
        this.writeJournal(entry);
    }

    /** Removes the journal: the operation has ended (or was recovered). */
    end(): void {
        fs.rmSync(this.journalFile, { force: true });
    }

    private writeJournal(entry: JournalEntry): void {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        writeFileAtomic(this.journalFile, `${JSON.stringify(entry)}\n`);
    }

    /** Appends a record to the operations log and flushes it to disk before returning. */
    log(record: Omit<OperationRecord, "time" | "stack">): OperationRecord {
        const full: OperationRecord = { time: new Date().toISOString(), stack: this.stack, ...record };
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        const fd = fs.openSync(this.logFile, "a", 0o600);
        try {
            fs.writeSync(fd, `${JSON.stringify(full)}\n`);
            fs.fsyncSync(fd);
        } finally {
            fs.closeSync(fd);
        }
        return full;
    }

    /** The operations log, oldest first. */
    records(): OperationRecord[] {
        if (!fs.existsSync(this.logFile)) return [];
        return fs
            .readFileSync(this.logFile, "utf8")
            .split("\n")
            .filter((l) => l.trim() !== "")
            .map((l) => JSON.parse(l) as OperationRecord);
    }
}

/** The journal of an operation this process starts now, in its first phase. */
export function newJournalEntry(operation: string, release: string, principal: string): JournalEntry {
    return {
        id: randomUUID(),
        operation,
        release,
        principal,
        pid: process.pid,
        hostname: os.hostname(),
        startedAt: new Date().toISOString(),
        phase: "edit",
    };
}

/** Whether a process is alive; one on another host cannot be checked and counts as alive. */
export function processAlive(pid: number, hostname: string): boolean {
    if (pid <= 0) return false;
    if (hostname !== os.hostname()) return true;
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as { code?: string }).code === "EPERM";
    }
}

/** Whether the process that wrote a journal is alive. */
export function ownerAlive(entry: JournalEntry): boolean {
    return processAlive(entry.pid, entry.hostname);
}
