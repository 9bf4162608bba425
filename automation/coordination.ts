/**
 * What keeps operations on one stack atomic and recoverable, wherever they run: an exclusive
 * lock per stack, a journal of the running operation, and a log of operation events. Two
 * implementations: files beside the project (one machine; automation/journal.ts) and
 * PostgreSQL (several replicas; automation/pgStore.ts), where the lock is an advisory lock that
 * the server releases when the replica holding it dies.
 */
import { JournalEntry, OperationRecord, Phase, StackFiles, ownerAlive } from "./journal";

export { JournalEntry, OperationRecord, Phase };

/** The outcome of an operation, kept with its record. */
export interface OperationOutcome {
    /** `applied`, `not-applied` (preview only), `refused`, `busy`, `failed`, `interrupted`. */
    result: string;
    /** Why it failed or was refused (first line). */
    detail?: string;
    /** The plan (changes, steps, traffic before and after), as answered to the caller. */
    plan?: unknown;
}

/** Lock, journal and operations log of one stack. */
export interface StackCoordinator {
    /** Where the coordination lives (for messages): a directory or a database. */
    readonly where: string;
    /**
     * Takes the stack's exclusive lock or throws LockBusyError naming the running operation.
     * `onLost` is called if the lock is taken away (a frozen holder, a dropped connection).
     * Resolves to the function that releases it.
     */
    lock(onLost: (error: Error) => void): Promise<() => Promise<void>>;
    /** The journal of the running (or an interrupted) operation, if any. */
    readJournal(): Promise<JournalEntry | undefined>;
    /** Whether the operation of a journal is still running somewhere (its owner holds the lock). */
    running(entry: JournalEntry): Promise<boolean>;
    /** Starts the journal of an operation (and its record). */
    begin(operation: string, release: string, principal: string): Promise<JournalEntry>;
    /** Moves the journal to a later phase. */
    advance(entry: JournalEntry, phase: Phase): Promise<void>;
    /** Ends the journal: the operation finished (outcome recorded) or was recovered. */
    end(entry: JournalEntry, outcome?: OperationOutcome): Promise<void>;
    /** Appends an event to the operations log, durably, before returning. */
    log(record: Omit<OperationRecord, "time" | "stack">): Promise<OperationRecord>;
    /** The operations log of this stack, oldest first. */
    records(): Promise<OperationRecord[]>;
}

/** The single-machine coordinator: files in `<workDir>/.model-release/`. */
export class FileCoordinator implements StackCoordinator {
    readonly files: StackFiles;

    constructor(workDir: string, stack: string) {
        this.files = new StackFiles(workDir, stack);
    }

    get where(): string {
        return this.files.dir;
    }

    lock(onLost: (error: Error) => void): Promise<() => Promise<void>> {
        return this.files.lock(onLost);
    }

    async readJournal(): Promise<JournalEntry | undefined> {
        return this.files.readJournal();
    }

    async running(entry: JournalEntry): Promise<boolean> {
        return ownerAlive(entry);
    }

    async begin(operation: string, release: string, principal: string): Promise<JournalEntry> {
        return this.files.begin(operation, release, principal);
    }

    async advance(entry: JournalEntry, phase: Phase): Promise<void> {
        this.files.advance(entry, phase);
    }

    async end(): Promise<void> {
        this.files.end();
    }

    async log(record: Omit<OperationRecord, "time" | "stack">): Promise<OperationRecord> {
        return this.files.log(record);
    }

    async records(): Promise<OperationRecord[]> {
        return this.files.records();
    }
}
