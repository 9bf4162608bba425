/**
 * The git layer of the config of record. Stack config (`Pulumi.yaml`, `Pulumi.<stack>.yaml`) lives
 * in a git remote, not on one machine: the service works on a private clone, and every release
 * operation fetches, edits the stack file, previews, commits (author = the authenticated principal,
 * committer = the service), pushes, and only then runs `pulumi up`. So every change has an author,
 * a reason and a review trail, and people can change config with plain git too.
 *
 * - Pushes are never forced: a rejected push means someone else pushed first, and overwriting their
 *   commit would silently undo a change that may already be deployed. It is a GitConflictError;
 *   retrying the operation starts from the new head.
 * - `pulumi up` runs after the push, so the remote may briefly say more than the cluster has; if
 *   `up` fails, `revert` pushes a revert commit, so the remote again says what is deployed, and
 *   history keeps both the attempt and its undoing.
 * - `propose` pushes a commit to a branch for review; `applyProposal` fast-forwards the main branch
 *   to it only if main has not moved since, so a reviewed change is never applied on top of
 *   something its reviewer did not see.
 *
 * Uses the `git` CLI (execFile, never a shell) with the user's global and system git config
 * ignored, so behaviour does not depend on the machine (hooks path, signing, push.default, ...).
 * Credentials come in the remote URL, or through GIT_ASKPASS / GIT_SSH_COMMAND; URL credentials
 * are redacted from every error message (they are stored in the clone's `.git/config`, which is
 * the service's private state). A ConfigRepo is not safe for concurrent use: callers hold the
 * stack lock (journal.ts) around an operation.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface GitIdentity {
    name: string;
    email: string;
}

export interface ConfigRepoOptions {
    /** URL or path of the remote holding the config. */
    remote: string;
    /** Where the clone lives; created if missing. */
    dir: string;
    /** The branch of record. */
    branch?: string;
    /** Committer of every commit (default `model-release service <model-release@localhost>`). */
    committer?: GitIdentity;
    /** Kill a git command after this long (ms; default 120,000): a hung remote must not hang a release. */
    timeoutMs?: number;
}

export interface CommitOptions {
    author: GitIdentity;
    message: string;
}

export interface CommitInfo {
    sha: string;
    author: GitIdentity;
    committer: GitIdentity;
    message: string;
    parents: string[];
}

export interface Proposal {
    /** The proposal branch (without `refs/heads/`). */
    branch: string;
    /** The proposed commit. */
    sha: string;
    /** The head of the branch of record it was made on. */
    base: string;
}

/** The state dir of the service (journal, locks) inside the work tree: never committed, never cleaned. */
export const STATE_DIR = ".model-release";

export const DEFAULT_COMMITTER: GitIdentity = { name: "model-release service", email: "model-release@localhost" };

/** Someone else changed the branch first (a rejected push, or a proposal whose base moved). */
export class GitConflictError extends Error {
    constructor(
        readonly branch: string,
        /** Our commit, that did not land. */
        readonly ours: string,
        /** What the branch is at now (or is believed to be, if it could not be fetched). */
        readonly theirs: string,
        what: string,
    ) {
        super(
            `${what}: ${branch} is now at ${short(theirs)}, not the base of ${short(ours)}; nothing was overwritten. ` +
                `Retry the operation: it starts from the new head.`,
        );
        this.name = "GitConflictError";
    }
}

/** Any other git failure. Messages never contain URL credentials. */
export class GitError extends Error {
    constructor(
        /** e.g. `git push`. */
        readonly command: string,
        message: string,
        /** git's stderr, redacted. */
        readonly stderr = "",
        readonly exitCode?: number,
    ) {
        super(message);
        this.name = "GitError";
    }
}

/**
 * The files hold no change: nothing was committed. Not a failure of git: the config of record
 * already says so (an operation that changes nothing should have been refused before).
 */
export class NothingToCommitError extends GitError {
    constructor(files: string[]) {
        super("git commit", `nothing to commit: ${files.join(", ")} already hold this config`);
        this.name = "NothingToCommitError";
    }
}

/** The trailer naming the operation (request) a commit belongs to; see `commitOfOperation`. */
export const OPERATION_ID_TRAILER = "Model-Release-Id";

interface RunResult {
    stdout: string;
    stderr: string;
    code: number;
}

interface RunOptions {
    cwd?: string;
    author?: GitIdentity;
    /** Exit codes that are answers, not failures (e.g. 1 for `diff --quiet`, `merge-base --is-ancestor`). */
    ok?: number[];
}

/** Environment variables kept from the process: how to reach the remote, not how to find a repository. */
const KEPT_GIT_ENV = new Set(["GIT_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH"]);

/** Replace `user:token@` in URLs by `***@`, and any literal credential of the given remotes. */
export function redact(text: string, ...remotes: string[]): string {
    let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@");
    for (const remote of remotes) {
        const m = /^[a-z][a-z0-9+.-]*:\/\/([^/@\s]+)@/i.exec(remote);
        if (!m) continue;
        // The bare secret too (raw and decoded): the password, or a lone token; not a user name.
        const colon = m[1].indexOf(":");
        const secret = colon >= 0 ? m[1].slice(colon + 1) : m[1];
        for (const part of new Set([secret, safeDecode(secret)])) {
            if (part.length >= 4) out = out.split(part).join("***");
        }
    }
    return out;
}

function safeDecode(s: string): string {
    try {
        return decodeURIComponent(s);
    } catch {
        return s;
    }
}

/** A remote as git should store it: local paths absolute, so a reopen compares like with like. */
function normalizeRemote(remote: string): string {
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(remote) || /^[^/:]+@[^/:]+:/.test(remote);
    return isUrl ? remote : path.resolve(remote);
}

function withoutCredentials(remote: string): string {
    return remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/i, "$1").replace(/\/+$/, "");
}

function short(sha: string): string {
    return /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : sha;
}

/** One line, for subjects and trailers. */
function oneLine(s: string): string {
    return s.replace(/\s+/g, " ").trim();
}

export class ConfigRepo {
    readonly dir: string;
    readonly remote: string;
    readonly branch: string;
    private readonly committer: GitIdentity;
    private readonly timeoutMs: number;

    private constructor(opts: ConfigRepoOptions) {
        this.dir = path.resolve(opts.dir);
        this.remote = normalizeRemote(opts.remote);
        this.branch = opts.branch ?? "main";
        this.committer = opts.committer ?? DEFAULT_COMMITTER;
        this.timeoutMs = opts.timeoutMs ?? 120_000;
    }

    /**
     * Clone `remote` into `dir` if it holds no clone (`dir` missing, empty, or holding only the
     * state dir), and check out the branch; else check that `dir` is a clone of `remote` (a
     * remote differing only in URL credentials is a rotated token: the stored URL is updated).
     * A reopen does not touch the work tree (unless a first open died before checking it out):
     * call `sync` before an operation.
     */
    static async open(opts: ConfigRepoOptions): Promise<ConfigRepo> {
        const repo = new ConfigRepo(opts);
        await repo.checkBranchName(repo.branch);
        if (fs.existsSync(path.join(repo.dir, ".git"))) {
            await repo.checkClone();
            // A first open that died before checking out the branch: finish it.
            const born = await repo.git(["rev-parse", "-q", "--verify", "HEAD^{commit}"], { ok: [1] });
            if (born.code !== 0) await repo.sync();
        } else {
            const entries = fs.existsSync(repo.dir) ? fs.readdirSync(repo.dir).filter((e) => e !== STATE_DIR) : [];
            if (entries.length > 0) {
                // sync cleans the work tree: never adopt a directory that holds something else.
                throw new GitError(
                    "git clone",
                    `cannot clone ${redact(repo.remote)} into ${repo.dir}: it is not empty and not a clone`,
                );
            }
            fs.mkdirSync(repo.dir, { recursive: true });
            // init + fetch rather than clone: clone refuses a directory that already holds the state dir.
            await repo.git(["init", "-q", "-b", repo.branch]);
            await repo.git(["remote", "add", "origin", repo.remote]);
            repo.excludeStateDir();
            await repo.sync();
        }
        return repo;
    }

    private async checkClone(): Promise<void> {
        const top = (await this.git(["rev-parse", "--show-toplevel"])).stdout.trim();
        if (fs.realpathSync(top) !== fs.realpathSync(this.dir)) {
            throw new GitError("git rev-parse", `${this.dir} is inside the git work tree ${top}, not a clone`);
        }
        const url = await this.git(["config", "--get", "remote.origin.url"], { ok: [1] });
        const current = url.stdout.trim();
        if (url.code !== 0 || withoutCredentials(current) !== withoutCredentials(this.remote)) {
            throw new GitError(
                "git config",
                `${this.dir} is a clone of ${redact(current || "(no origin)")}, not of ${redact(this.remote)}`,
            );
        }
        if (current !== this.remote) await this.git(["remote", "set-url", "origin", this.remote]);
        this.excludeStateDir();
    }

    /** The state dir must never be committed: add it to the clone's own excludes. */
    private excludeStateDir(): void {
        const file = path.join(this.dir, ".git", "info", "exclude");
        const line = `/${STATE_DIR}/`;
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        if (text.split("\n").includes(line)) return;
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.appendFileSync(file, `${text === "" || text.endsWith("\n") ? "" : "\n"}${line}\n`);
    }

    /**
     * Fetch, then make the local branch and work tree exactly `origin/<branch>`: local commits,
     * edits and untracked files are dropped, except the state dir. Returns the head.
     */
    async sync(): Promise<string> {
        await this.git(["fetch", "--prune", "--no-tags", "origin"]);
        await this.resetTo(this.remoteRef());
        return this.head();
    }

    async head(): Promise<string> {
        return this.revParse("HEAD");
    }

    /**
     * Commit `files` (paths relative to the work tree; deletions included) as `author`, with the
     * configured committer. Only those files are committed. Returns the new sha; throws
     * NothingToCommitError if they hold no change (a sha of nothing would be reverted wrongly).
     */
    async commit(files: string[], opts: CommitOptions): Promise<string> {
        if (files.length === 0) throw new TypeError("commit: no files given");
        await this.git(["add", "-A", "--", ...files]);
        const diff = await this.git(["diff", "--cached", "--quiet", "--", ...files], { ok: [1] });
        if (diff.code === 0) throw new NothingToCommitError(files);
        await this.git(["commit", "-q", "--no-verify", "--cleanup=whitespace", "-m", opts.message, "--", ...files], {
            author: opts.author,
        });
        return this.head();
    }

    /**
     * Push HEAD to the branch, never forced. If the branch moved since the last sync, throws
     * GitConflictError and resets the local branch and work tree to the head they were synced to
     * (the rejected commit stays reachable by its sha, named in the error); `origin/<branch>` is
     * updated to the new remote head, which the next `sync` checks out.
     */
    async push(): Promise<void> {
        const base = await this.revParse(this.remoteRef());
        const ours = await this.head();
        await this.pushRef(ours, this.branch, base, `push of ${short(ours)} to ${this.branch} rejected`);
    }

    /**
     * Push HEAD (one commit on the synced base), never forced. When the branch moved meanwhile
     * but none of `guarded` changed between the base and the new head (another stack's edit),
     * the commit is replayed onto the new head and pushed again: its preview still holds, and
     * nothing is overwritten. A change to a guarded file is a GitConflictError, as in `push`.
     * Returns the sha pushed (a replayed commit has a new one).
     */
    async pushGuarded(guarded: string[], attempts = 8): Promise<string> {
        let base = await this.revParse(this.remoteRef());
        let ours = await this.head();
        for (let attempt = 1; ; attempt++) {
            try {
                await this.pushRef(ours, this.branch, base, `push of ${short(ours)} to ${this.branch} rejected`);
                return ours;
            } catch (error) {
                if (!(error instanceof GitConflictError) || attempt >= attempts) throw error;
                const theirs = await this.revParse(this.remoteRef());
                const changed = await this.git(["diff", "--quiet", base, theirs, "--", ...guarded], { ok: [1] });
                if (changed.code !== 0) throw error;
                await this.resetTo(theirs);
                // cherry-pick keeps the commit's author and message; the committer is the service.
                await this.git(["cherry-pick", "--allow-empty", "--keep-redundant-commits", ours]);
                base = theirs;
                ours = await this.head();
            }
        }
    }

    /**
     * Revert `sha` (a commit on the branch, e.g. one whose `pulumi up` failed) with a commit on top
     * of the remote's current head, and push it. Syncs first, so local edits are dropped. A push
     * race is retried (up to 3 times: the revert is a compensation and should land); a revert that
     * no longer applies because later commits changed the same lines is a GitConflictError.
     * `message` defaults to git's `Revert "<subject>"`; the body always names the reverted sha.
     */
    async revert(sha: string, opts: { author: GitIdentity; message?: string }): Promise<string> {
        for (let attempt = 1; ; attempt++) {
            const head = await this.sync();
            const target = await this.revParse(`${sha}^{commit}`);
            const onBranch = await this.git(["merge-base", "--is-ancestor", target, head], { ok: [1] });
            if (onBranch.code !== 0) {
                throw new GitError("git revert", `cannot revert ${short(target)}: it is not on ${this.branch}`);
            }
            const applied = await this.git(["revert", "--no-commit", target], { ok: [1] });
            if (applied.code !== 0) {
                await this.resetTo(head);
                throw new GitConflictError(
                    this.branch,
                    target,
                    head,
                    `revert of ${short(target)} does not apply: later commits on ${this.branch} changed the same lines`,
                );
            }
            const subject = (await this.show(target)).message.split("\n")[0];
            const message = withRevertLine(opts.message ?? `Revert "${subject}"`, target);
            await this.git(["commit", "-q", "--no-verify", "--allow-empty", "--cleanup=whitespace", "-m", message], {
                author: opts.author,
            });
            try {
                await this.push();
                return await this.head();
            } catch (e) {
                if (!(e instanceof GitConflictError) || attempt >= 3) throw e;
            }
        }
    }

    /**
     * Commit `files` on top of the synced head and push the commit to the new branch `branchName`
     * (not the branch of record), for review. The local branch returns to the synced head, so the
     * edit is gone from the work tree. NothingToCommitError if the files hold no change. A branch of
     * that name that already exists is a GitError (pick another name).
     */
    async propose(branchName: string, files: string[], opts: CommitOptions): Promise<Proposal> {
        await this.checkBranchName(branchName);
        if (branchName === this.branch) throw new GitError("git push", `a proposal cannot be on ${this.branch}`);
        const base = await this.revParse(this.remoteRef());
        if ((await this.head()) !== base) {
            throw new GitError("git commit", `propose: the work tree is not synced to ${this.branch}; call sync first`);
        }
        try {
            const sha = await this.commit(files, opts);
            const remoteSha = await this.lsRemote(branchName);
            if (remoteSha !== undefined) {
                throw new GitError("git push", `proposal branch ${branchName} already exists (at ${short(remoteSha)})`);
            }
            await this.pushRef(sha, branchName, base, `push of proposal ${short(sha)} to ${branchName} rejected`);
            return { branch: branchName, sha, base };
        } finally {
            await this.resetTo(base);
        }
    }

    /**
     * Apply a proposal: if its commit's parent is still the head of the branch of record,
     * fast-forward the branch (local and remote, never forced) to it; otherwise, or if the branch
     * moves during the push, GitConflictError naming both commits, and the branch is unchanged.
     * Then delete the proposal branch on the remote (best effort). Applying a proposal that is
     * already the branch head (a retry) returns it again.
     */
    async applyProposal(branchName: string): Promise<{ sha: string; base: string }> {
        await this.checkBranchName(branchName);
        await this.git(["fetch", "--prune", "--no-tags", "origin"]);
        const proposalRef = `refs/remotes/origin/${branchName}`;
        const exists = await this.git(["rev-parse", "-q", "--verify", `${proposalRef}^{commit}`], { ok: [1] });
        if (exists.code !== 0) throw new GitError("git fetch", `no proposal branch ${branchName} on the remote`);
        const sha = exists.stdout.trim();
        const { parents } = await this.show(sha);
        const base = parents[0] ?? "";
        const main = await this.revParse(this.remoteRef());
        if (sha === main) {
            await this.resetTo(main);
            await this.deleteRemoteBranch(branchName, sha);
            return { sha, base };
        }
        if (parents.length !== 1 || base !== main) {
            await this.resetTo(main);
            throw new GitConflictError(
                this.branch,
                sha,
                main,
                `proposal ${branchName} (${short(sha)}, made on ${short(base)}) cannot be applied`,
            );
        }
        await this.resetTo(sha);
        await this.pushRef(sha, this.branch, main, `apply of proposal ${branchName} (${short(sha)}) rejected`);
        await this.deleteRemoteBranch(branchName, sha);
        return { sha, base };
    }

    /** A file's text at `ref` (e.g. `origin/<proposal>`), or undefined if the ref or the file is absent. */
    /**
     * The text of `file` at the remote branch's head, fetched now, without touching the work
     * tree (reads outside the stack's lock: an operation may be using the work tree).
     */
    async readRecorded(file: string): Promise<string | undefined> {
        await this.git(["fetch", "--no-tags", "origin"]);
        return this.readAt(this.remoteRef(), file);
    }

    async readAt(ref: string, file: string): Promise<string | undefined> {
        if (ref.startsWith("-")) throw new GitError("git rev-parse", `bad ref ${ref}`);
        const blob = await this.git(["rev-parse", "-q", "--verify", `${ref}:${file}`], { ok: [1, 128] });
        if (blob.code !== 0) return undefined;
        return (await this.git(["cat-file", "blob", blob.stdout.trim()])).stdout;
    }

    /**
     * The commit on `origin/<branch>` (as last fetched: sync first) whose message carries the
     * trailer `Model-Release-Id: <id>`, unless it was reverted since (a commit carrying
     * `Model-Release-Id: <id>-revert` or `This reverts commit <sha>.`). For recovery: an
     * operation that died after its push must have its commit reverted, once.
     */
    async commitOfOperation(id: string): Promise<string | undefined> {
        const lines = (c: CommitInfo) => c.message.split("\n").map((l) => l.trim());
        const found = await this.grep(`${OPERATION_ID_TRAILER}: ${id}`);
        if (found.some((c) => lines(c).includes(`${OPERATION_ID_TRAILER}: ${id}-revert`))) return undefined;
        const commit = found.find((c) => lines(c).includes(`${OPERATION_ID_TRAILER}: ${id}`));
        if (commit === undefined) return undefined;
        const reverts = await this.grep(`This reverts commit ${commit.sha}`);
        return reverts.length > 0 ? undefined : commit.sha;
    }

    /** Commits of origin/<branch> whose message contains `text`, newest first. */
    private async grep(text: string): Promise<CommitInfo[]> {
        const out = await this.git(["rev-list", "--fixed-strings", `--grep=${text}`, this.remoteRef(), "--"]);
        const shas = out.stdout.split("\n").filter((s) => s !== "");
        return Promise.all(shas.map((s) => this.show(s)));
    }

    /** One commit. */
    async show(rev: string): Promise<CommitInfo> {
        const out = await this.git(["show", "-s", "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00%P%x00%B", rev, "--"]);
        const [sha, an, ae, cn, ce, parents, ...message] = out.stdout.split("\0");
        return {
            sha,
            author: { name: an, email: ae },
            committer: { name: cn, email: ce },
            parents: parents.split(" ").filter((p) => p !== ""),
            message: message.join("\0").trim(),
        };
    }

    /** The last `n` commits from `rev` (default HEAD), newest first. */
    async log(n: number, rev = "HEAD"): Promise<CommitInfo[]> {
        const out = await this.git(["rev-list", `--max-count=${Math.max(0, Math.floor(n))}`, rev, "--"]);
        const shas = out.stdout.split("\n").filter((s) => s !== "");
        return Promise.all(shas.map((s) => this.show(s)));
    }

    private remoteRef(): string {
        return `refs/remotes/origin/${this.branch}`;
    }

    private async revParse(rev: string): Promise<string> {
        return (await this.git(["rev-parse", "--verify", "-q", rev])).stdout.trim();
    }

    /** Local branch, index and work tree exactly at `rev`; untracked files gone except the state dir. */
    private async resetTo(rev: string): Promise<void> {
        await this.git(["checkout", "-q", "-f", "--no-track", "-B", this.branch, rev]);
        await this.git(["clean", "-q", "-ffdx", "-e", `/${STATE_DIR}/`]);
    }

    private async checkBranchName(name: string): Promise<void> {
        const r = await this.git(["check-ref-format", "--branch", name], { cwd: "/", ok: [1, 128] });
        if (r.code !== 0 || name.startsWith("-")) throw new GitError("git check-ref-format", `bad branch name ${name}`);
    }

    private async lsRemote(branchName: string): Promise<string | undefined> {
        const out = await this.git(["ls-remote", "origin", `refs/heads/${branchName}`]);
        const line = out.stdout.split("\n").find((l) => l.endsWith(`\trefs/heads/${branchName}`));
        return line?.split("\t")[0];
    }

    /**
     * Push `sha` to `refs/heads/<target>` without force. A fast-forward rejection (or a remote ref
     * lock lost to a concurrent push) is a GitConflictError; the local branch goes back to `base`.
     */
    private async pushRef(sha: string, target: string, base: string, what: string): Promise<void> {
        const r = await this.git(["push", "--porcelain", "origin", `${sha}:refs/heads/${target}`], { ok: [1] });
        if (r.code === 0) return;
        const status = r.stdout
            .split("\n")
            .find((l) => l.startsWith("!\t"))
            ?.split("\t")[2];
        // A push that loses the remote's ref lock to a concurrent push (the old value it checked
        // moved before its transaction committed) is reported as "failed to update ref", with the
        // lock message only on stderr: that is a conflict too, not a failure of the service.
        const lostLock = /cannot lock ref '[^']*': is at [0-9a-f]+ but expected [0-9a-f]+/.test(r.stderr);
        const conflict =
            status !== undefined &&
            (/^\[rejected\] \((fetch first|non-fast-forward|already exists|stale info)\)/.test(status) ||
                /^\[remote rejected\].*cannot lock ref/.test(status) ||
                (/^\[remote rejected\] \(failed to update ref\)/.test(status) && lostLock));
        if (!conflict) throw this.failure(["push"], r);
        // Learn what the branch is now, to name it; the fetch also readies the next sync.
        const fetched = await this.git(["fetch", "--no-tags", "origin"], { ok: [1, 128] });
        let theirs = "(unknown: fetch failed)";
        if (fetched.code === 0) theirs = (await this.lsRemoteRef(target)) ?? "(deleted)";
        await this.resetTo(base);
        throw new GitConflictError(target, sha, theirs, what);
    }

    private async lsRemoteRef(target: string): Promise<string | undefined> {
        const r = await this.git(["rev-parse", "-q", "--verify", `refs/remotes/origin/${target}`], { ok: [1] });
        return r.code === 0 ? r.stdout.trim() : undefined;
    }

    /** Delete a remote branch only if it still points at `sha` (a compare-and-delete, not a force). */
    private async deleteRemoteBranch(branchName: string, sha: string): Promise<void> {
        await this.git(
            ["push", `--force-with-lease=refs/heads/${branchName}:${sha}`, "origin", `:refs/heads/${branchName}`],
            { ok: [1, 128] },
        );
    }

    private failure(args: string[], r: RunResult | { code: number; stderr: string; reason: string }): GitError {
        const sub = args.find((a) => !a.startsWith("-")) ?? "";
        const stderr = redact(r.stderr, this.remote).trim();
        const lines = stderr
            .split("\n")
            .filter((l) => l.trim() !== "" && !l.startsWith("hint:"))
            .slice(0, 3)
            .join("; ");
        const reason = "reason" in r ? r.reason : `exit ${r.code}`;
        return new GitError(`git ${sub}`, `git ${sub} failed (${reason})${lines ? `: ${lines}` : ""}`, stderr, r.code);
    }

    /** Run git in the clone: no shell, no prompts, C locale, no global or system config. */
    private git(args: string[], opts: RunOptions = {}): Promise<RunResult> {
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env)) {
            if (!k.startsWith("GIT_") || KEPT_GIT_ENV.has(k)) env[k] = v;
        }
        const author = opts.author ?? this.committer;
        Object.assign(env, {
            GIT_TERMINAL_PROMPT: "0",
            LC_ALL: "C",
            LANGUAGE: "C",
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_CONFIG_GLOBAL: "/dev/null",
            // File names are names, not pathspec patterns.
            GIT_LITERAL_PATHSPECS: "1",
            GIT_AUTHOR_NAME: author.name,
            GIT_AUTHOR_EMAIL: author.email,
            GIT_COMMITTER_NAME: this.committer.name,
            GIT_COMMITTER_EMAIL: this.committer.email,
        });
        const fullArgs = ["-c", "advice.detachedHead=false", ...args];
        return new Promise((resolve, reject) => {
            execFile(
                "git",
                fullArgs,
                {
                    cwd: opts.cwd ?? this.dir,
                    env,
                    timeout: this.timeoutMs,
                    killSignal: "SIGKILL",
                    maxBuffer: 64 * 1024 * 1024,
                    encoding: "utf8",
                },
                (err, stdout, stderr) => {
                    if (!err) return resolve({ stdout, stderr, code: 0 });
                    const code = typeof err.code === "number" ? err.code : -1;
                    if (code >= 0 && !err.killed && opts.ok?.includes(code)) return resolve({ stdout, stderr, code });
                    const reason = err.killed
                        ? `timed out after ${this.timeoutMs} ms`
                        : code >= 0
                          ? `exit ${code}`
                          : String(err.code ?? err.message);
                    reject(this.failure(args, { code, stderr, reason }));
                },
            );
        });
    }
}

/**
 * A git identity for a principal: `alice`, `ci@team`, `system:serviceaccount:ns:x`. The name is
 * the principal (minus characters git rejects); the email is the principal if it already looks
 * like an address with a dotted domain, else `<slug>@model-release.invalid` (.invalid: never
 * deliverable, RFC 2606), so commits are attributable without inventing a real mailbox.
 */
export function authorOf(principal: string): GitIdentity {
    // eslint-disable-next-line no-control-regex
    const name = principal.replace(/[<>\u0000-\u001f\u007f]/g, "").trim() || "unknown";
    if (/^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(name)) return { name, email: name };
    const slug =
        name
            .toLowerCase()
            .replace(/[^a-z0-9._-]+/g, "-")
            .replace(/^[-.]+|[-.]+$/g, "")
            .replace(/\.{2,}/g, ".")
            .slice(0, 64) || "unknown";
    return { name, email: `${slug}@model-release.invalid` };
}

/** Git's `This reverts commit <sha>.` line, placed before a closing trailer paragraph so trailers stay last. */
function withRevertLine(message: string, sha: string): string {
    if (message.includes(`This reverts commit ${sha}`)) return message;
    const paragraphs = message.trimEnd().split(/\n\s*\n/);
    const last = paragraphs[paragraphs.length - 1];
    const line = `This reverts commit ${sha}.`;
    if (paragraphs.length > 1 && last.split("\n").every((l) => /^[A-Za-z0-9-]+: /.test(l))) {
        paragraphs.splice(paragraphs.length - 1, 0, line);
    } else {
        paragraphs.push(line);
    }
    return paragraphs.join("\n\n") + "\n";
}

/** A traffic row, structurally: components/plan.ts TrafficRow fits. */
export interface TrafficShare {
    version: string;
    percent: number;
    revision?: string;
}

export interface CommitMessageInput {
    operation: string;
    release: string;
    stack: string;
    trafficBefore: readonly TrafficShare[];
    trafficAfter: readonly TrafficShare[];
    /** Resource changes of the preview, e.g. `{ update: 2, create: 1 }` (stack.ts `changes`). */
    changes: Readonly<Record<string, number>>;
    requestId?: string;
    /** The operation's id: a `Model-Release-Id` trailer, found again by `commitOfOperation`. */
    id?: string;
}

function trafficText(rows: readonly TrafficShare[]): string {
    if (rows.length === 0) return "(none)";
    return rows
        .map((r) => `${oneLine(r.version)}${r.revision ? `(${oneLine(r.revision)})` : ""} ${r.percent}%`)
        .join(" ");
}

/**
 * `promote wisdom (stack dev): v1 90% v2 10% -> v2 100%`, then a body with the traffic and the
 * resource changes, then trailers (`Model-Release-Operation: promote`, ...) that tools can parse
 * with `git interpret-trailers` / `git log --format=%(trailers)`.
 */
export function commitMessage(input: CommitMessageInput): string {
    const before = trafficText(input.trafficBefore);
    const after = trafficText(input.trafficAfter);
    const traffic = before === after ? `${after} (traffic unchanged)` : `${before} -> ${after}`;
    const subject = `${oneLine(input.operation)} ${oneLine(input.release)} (stack ${oneLine(input.stack)}): ${traffic}`;
    const changes = Object.entries(input.changes).filter(([, n]) => n > 0);
    const summary = changes.length === 0 ? "no resource changes" : changes.map(([op, n]) => `${op} ${n}`).join(", ");
    const trailers = [
        ["Model-Release-Operation", input.operation],
        ["Model-Release-Release", input.release],
        ["Model-Release-Stack", input.stack],
        ...(input.requestId ? [["Model-Release-Request-Id", input.requestId]] : []),
        ...(input.id ? [[OPERATION_ID_TRAILER, input.id]] : []),
    ].map(([k, v]) => `${k}: ${oneLine(v)}`);
    return [
        subject,
        "",
        `Traffic before: ${before}`,
        `Traffic after: ${after}`,
        `Preview: ${summary}`,
        "",
        ...trailers,
        "",
    ].join("\n");
}
