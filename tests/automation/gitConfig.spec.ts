import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { stringify } from "yaml";

import {
    ConfigRepo,
    DEFAULT_COMMITTER,
    GitConflictError,
    GitError,
    NothingToCommitError,
    authorOf,
    commitMessage,
    redact,
} from "../../automation/gitConfig";

const STACK_FILE = "Pulumi.dev.yaml";
const alice = authorOf("alice");
const bob = authorOf("bob@example.com");

/** Plain git, as a person would run it, isolated from the machine's git config. */
function git(cwd: string, ...args: string[]): string {
    return execFileSync("git", args, {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: {
            ...process.env,
            GIT_CONFIG_GLOBAL: "/dev/null",
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_AUTHOR_NAME: "Carol",
            GIT_AUTHOR_EMAIL: "carol@example.com",
            GIT_COMMITTER_NAME: "Carol",
            GIT_COMMITTER_EMAIL: "carol@example.com",
        },
    }).trim();
}

/** A stack file whose release `wisdom` sends `traffic` (version -> percent). */
function stackYaml(traffic: Record<string, number>): string {
    const versions = Object.entries(traffic).map(([name, percent]) => ({ name, traffic: percent }));
    return stringify({ config: { "model-release:releases": [{ name: "wisdom", versions }] } });
}

/** A bare remote on `main` seeded with Pulumi.yaml and Pulumi.dev.yaml, as a person would push them. */
function seedRemote(root: string): string {
    const remote = path.join(root, "config.git");
    git(root, "init", "-q", "--bare", "-b", "main", remote);
    const seed = path.join(root, "seed");
    git(root, "init", "-q", "-b", "main", seed);
    fs.writeFileSync(path.join(seed, "Pulumi.yaml"), stringify({ name: "model-release", runtime: "nodejs" }));
    fs.writeFileSync(path.join(seed, STACK_FILE), stackYaml({ v1: 100 }));
    git(seed, "add", ".");
    git(seed, "commit", "-q", "-m", "seed");
    git(seed, "push", "-q", remote, "HEAD:refs/heads/main");
    return remote;
}

function remoteHead(remote: string, ref = "main"): string | undefined {
    const out = git(remote, "for-each-ref", "--format=%(objectname)", `refs/heads/${ref}`);
    return out === "" ? undefined : out;
}

function remoteFile(remote: string, rev = "main", file = STACK_FILE): string {
    return git(remote, "show", `${rev}:${file}`) + "\n";
}

function edit(repo: ConfigRepo, traffic: Record<string, number>): void {
    fs.writeFileSync(path.join(repo.dir, STACK_FILE), stackYaml(traffic));
}

function isConflict(branch: string, ...shas: string[]) {
    return (e: unknown): boolean => {
        assert.ok(e instanceof GitConflictError, String(e));
        assert.equal(e.branch, branch);
        for (const sha of shas) assert.match(e.message, new RegExp(sha.slice(0, 12)));
        assert.match(e.message, /Retry the operation/);
        return true;
    };
}

describe("git config of record", function () {
    this.timeout(30_000);
    let root: string;
    let remote: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitconfig-"));
        remote = seedRemote(root);
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    const open = (name = "svc", branch?: string) =>
        ConfigRepo.open({ remote, dir: path.join(root, name), ...(branch ? { branch } : {}) });

    it("pushGuarded replays onto another stack's push, and refuses one that changed a guarded file", async () => {
        const a = await open("a");
        const b = await open("b");
        // b pushes an edit of another stack's file: a's push is replayed on top, not refused.
        fs.writeFileSync(path.join(b.dir, "Pulumi.prod.yaml"), stackYaml({ v7: 100 }));
        await b.commit(["Pulumi.prod.yaml"], { author: bob, message: "prod" });
        const bSha = await b.pushGuarded(["Pulumi.prod.yaml", "Pulumi.yaml"]);
        edit(a, { v1: 90, v2: 10 });
        const first = await a.commit([STACK_FILE], { author: alice, message: "dev: 10%" });
        const pushed = await a.pushGuarded([STACK_FILE, "Pulumi.yaml"]);
        assert.notEqual(pushed, first, "replayed: a new commit");
        assert.equal(remoteHead(remote), pushed);
        assert.equal(git(remote, "rev-parse", `${pushed}^`), bSha, "on top of the other push");
        assert.equal(
            git(remote, "log", "-1", "--format=%an|%cn|%s", pushed),
            `alice|${DEFAULT_COMMITTER.name}|dev: 10%`,
        );
        assert.equal(remoteFile(remote), stackYaml({ v1: 90, v2: 10 }));
        assert.equal(remoteFile(remote, "main", "Pulumi.prod.yaml"), stackYaml({ v7: 100 }));
        // b now edits the guarded file after a's push: a conflict, nothing overwritten.
        await b.sync();
        edit(b, { v1: 80, v2: 20 });
        await b.commit([STACK_FILE], { author: bob, message: "dev: 20%" });
        const bob20 = await b.pushGuarded([STACK_FILE]);
        edit(a, { v1: 70, v2: 30 });
        const mine = await a.commit([STACK_FILE], { author: alice, message: "dev: 30%" });
        await assert.rejects(a.pushGuarded([STACK_FILE, "Pulumi.yaml"]), isConflict("main", mine, bob20));
        assert.equal(remoteHead(remote), bob20);
        assert.equal(remoteFile(remote), stackYaml({ v1: 80, v2: 20 }));
    });

    it("readRecorded reads the remote head's file without touching the work tree", async () => {
        const reader = await open("reader");
        const writer = await open("writer");
        edit(reader, { v1: 10 });
        edit(writer, { v1: 60, v2: 40 });
        await writer.commit([STACK_FILE], { author: bob, message: "dev: 40%" });
        await writer.pushGuarded([STACK_FILE]);
        assert.equal(await reader.readRecorded(STACK_FILE), stackYaml({ v1: 60, v2: 40 }));
        assert.equal(fs.readFileSync(path.join(reader.dir, STACK_FILE), "utf8"), stackYaml({ v1: 10 }));
        assert.equal(await reader.readRecorded("Pulumi.none.yaml"), undefined);
    });

    it("open clones once, reopens without touching the work tree, and refuses another remote", async () => {
        const repo = await open();
        assert.equal(await repo.head(), remoteHead(remote));
        assert.equal(fs.readFileSync(path.join(repo.dir, STACK_FILE), "utf8"), stackYaml({ v1: 100 }));
        // A reopen keeps local edits (a re-clone would not): sync, not open, resets.
        edit(repo, { v1: 50, v2: 50 });
        const again = await open();
        assert.equal(fs.readFileSync(path.join(again.dir, STACK_FILE), "utf8"), stackYaml({ v1: 50, v2: 50 }));
        assert.equal(await again.head(), remoteHead(remote));

        const other = path.join(root, "other.git");
        git(root, "init", "-q", "--bare", other);
        await assert.rejects(ConfigRepo.open({ remote: other, dir: repo.dir }), (e: unknown) => {
            assert.ok(e instanceof GitError);
            assert.match(e.message, /is a clone of .*config\.git, not of .*other\.git/);
            return true;
        });
        const busy = path.join(root, "busy");
        fs.mkdirSync(busy);
        fs.writeFileSync(path.join(busy, "notes.txt"), "mine");
        await assert.rejects(ConfigRepo.open({ remote, dir: busy }), /not empty and not a clone/);
        assert.ok(fs.existsSync(path.join(busy, "notes.txt")));
    });

    it("a directory holding only the state dir is cloned into, and the state dir survives sync", async () => {
        const dir = path.join(root, "svc");
        fs.mkdirSync(path.join(dir, ".model-release"), { recursive: true });
        fs.writeFileSync(path.join(dir, ".model-release", "journal.json"), "{}");
        const repo = await ConfigRepo.open({ remote, dir });
        fs.writeFileSync(path.join(dir, "stray.tmp"), "x");
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "garbage");
        await repo.sync();
        assert.equal(fs.readFileSync(path.join(dir, ".model-release", "journal.json"), "utf8"), "{}");
        assert.ok(!fs.existsSync(path.join(dir, "stray.tmp")));
        assert.equal(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"), remoteFile(remote, "main", "Pulumi.yaml"));
        assert.equal(git(dir, "status", "--porcelain"), "", "the state dir is ignored");
    });

    it("commit and push land on the remote with the principal as author and the service as committer", async () => {
        const repo = await open();
        const base = await repo.sync();
        edit(repo, { v1: 90, v2: 10 });
        const message = "canary wisdom (stack dev): v1 100% -> v1 90% v2 10%";
        const sha = await repo.commit([STACK_FILE], { author: alice, message });
        assert.ok(sha);
        await repo.push();
        assert.equal(remoteHead(remote), sha);
        const [an, ae, cn, ce, parent, subject] = git(remote, "log", "-1", "--format=%an%n%ae%n%cn%n%ce%n%P%n%s").split(
            "\n",
        );
        assert.deepEqual([an, ae], [alice.name, alice.email]);
        assert.deepEqual([cn, ce], [DEFAULT_COMMITTER.name, DEFAULT_COMMITTER.email]);
        assert.equal(parent, base);
        assert.equal(subject, message);
        assert.equal(remoteFile(remote), stackYaml({ v1: 90, v2: 10 }));
        const [info] = await repo.log(1);
        assert.deepEqual(info.author, alice);
        assert.deepEqual(info.parents, [base]);
        // Nothing changed: nothing committed.
        await assert.rejects(repo.commit([STACK_FILE], { author: alice, message: "noop" }), NothingToCommitError);
        assert.equal(await repo.head(), sha);
    });

    it("the second of two clones to push gets a conflict, the first's commit stays, and sync brings it", async () => {
        const a = await open("a");
        const b = await open("b");
        await a.sync();
        await b.sync();
        edit(a, { v1: 90, v2: 10 });
        edit(b, { v1: 50, v2: 50 });
        const first = await a.commit([STACK_FILE], { author: alice, message: "a" });
        const second = await b.commit([STACK_FILE], { author: bob, message: "b" });
        await a.push();
        await assert.rejects(b.push(), isConflict("main", first, second));
        assert.equal(remoteHead(remote), first);
        assert.equal(remoteFile(remote), stackYaml({ v1: 90, v2: 10 }));
        assert.equal(await b.sync(), first);
        assert.equal(fs.readFileSync(path.join(b.dir, STACK_FILE), "utf8"), stackYaml({ v1: 90, v2: 10 }));
    });

    it("a person pushing from their own clone between the service's sync and push is a conflict", async () => {
        const repo = await open();
        await repo.sync();
        const mine = path.join(root, "carol");
        git(root, "clone", "-q", remote, mine);
        fs.writeFileSync(path.join(mine, STACK_FILE), stackYaml({ v2: 100 }));
        git(mine, "commit", "-q", "-am", "carol: v2 takes all");
        git(mine, "push", "-q", "origin", "HEAD:main");
        const carol = git(mine, "rev-parse", "HEAD");
        edit(repo, { v1: 90, v2: 10 });
        const sha = await repo.commit([STACK_FILE], { author: alice, message: "svc" });
        await assert.rejects(repo.push(), isConflict("main", carol, sha));
        assert.equal(remoteHead(remote), carol);
        assert.equal(await repo.head(), git(remote, "rev-parse", "main~1"), "local branch back to its synced head");
    });

    it("a push that loses the remote's ref lock to a concurrent push is a conflict, and pushGuarded replays it", async () => {
        // The remote's pre-receive hook moves main once, after the push checked it and before its
        // ref transaction: what a concurrent push from another replica does (git reports "failed
        // to update ref", the lock message only on stderr; a CI run saw it as a 500).
        const moved = path.join(root, "moved");
        const hook = path.join(remote, "hooks", "pre-receive");
        fs.writeFileSync(
            hook,
            [
                "#!/bin/sh",
                `[ -e '${moved}' ] && exit 0`,
                "unset GIT_QUARANTINE_PATH",
                "c=$(git commit-tree -m concurrent 'refs/heads/main^{tree}' -p refs/heads/main)",
                'git update-ref refs/heads/main "$c"',
                `echo "$c" > '${moved}'`,
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const repo = await open();
        edit(repo, { v1: 90, v2: 10 });
        const sha = await repo.commit([STACK_FILE], { author: alice, message: "svc" });
        const concurrent = () => fs.readFileSync(moved, "utf8").trim();
        await assert.rejects(repo.push(), (e: unknown) => isConflict("main", sha, concurrent())(e));
        assert.equal(remoteHead(remote), concurrent());

        fs.rmSync(moved);
        await repo.sync();
        edit(repo, { v1: 80, v2: 20 });
        await repo.commit([STACK_FILE], { author: alice, message: "svc again" });
        const pushed = await repo.pushGuarded([STACK_FILE]);
        assert.equal(remoteHead(remote), pushed);
        assert.equal(git(remote, "rev-parse", `${pushed}^`), concurrent(), "replayed on the concurrent commit");
        assert.equal(remoteFile(remote), stackYaml({ v1: 80, v2: 20 }));
    });

    it("revert pushes a commit on top that restores the file", async () => {
        const repo = await open();
        await repo.sync();
        const before = remoteFile(remote);
        edit(repo, { v1: 90, v2: 10 });
        const sha = await repo.commit([STACK_FILE], { author: alice, message: "canary wisdom" });
        await repo.push();
        const reverted = await repo.revert(sha, { author: alice });
        assert.equal(remoteHead(remote), reverted);
        assert.equal(remoteFile(remote), before);
        const info = await repo.show(reverted);
        assert.deepEqual(info.parents, [sha]);
        assert.deepEqual(info.author, alice);
        assert.match(info.message, /^Revert "canary wisdom"/);
        assert.match(info.message, new RegExp(`This reverts commit ${sha}\\.`));
    });

    it("commitOfOperation finds an operation's pushed commit until it is reverted; readAt reads refs", async () => {
        const repo = await open();
        await repo.sync();
        edit(repo, { v1: 90, v2: 10 });
        const message = commitMessage({
            operation: "canary",
            release: "wisdom",
            stack: "dev",
            trafficBefore: [{ version: "v1", percent: 100 }],
            trafficAfter: [
                { version: "v1", percent: 90 },
                { version: "v2", percent: 10 },
            ],
            changes: { update: 1 },
            id: "op-1",
        });
        const sha = await repo.commit([STACK_FILE], { author: alice, message });
        await repo.push();
        assert.equal(await repo.commitOfOperation("op-1"), sha);
        assert.equal(await repo.commitOfOperation("op-2"), undefined);
        assert.equal(await repo.readAt("origin/main", STACK_FILE), stackYaml({ v1: 90, v2: 10 }));
        assert.equal(await repo.readAt(`${sha}~1`, STACK_FILE), stackYaml({ v1: 100 }));
        assert.equal(await repo.readAt("origin/nope", STACK_FILE), undefined);
        assert.equal(await repo.readAt("origin/main", "Pulumi.prod.yaml"), undefined);

        const reverted = await repo.revert(sha, {
            author: alice,
            message: "Revert canary: up failed\n\nModel-Release-Id: op-1-revert\n",
        });
        const info = await repo.show(reverted);
        assert.equal(
            info.message,
            `Revert canary: up failed\n\nThis reverts commit ${sha}.\n\nModel-Release-Id: op-1-revert`,
            "trailers stay last",
        );
        assert.equal(git(repo.dir, "log", "-1", "--format=%(trailers:key=Model-Release-Id,valueonly)"), "op-1-revert");
        assert.equal(await repo.commitOfOperation("op-1"), undefined, "already reverted");
    });

    it("revert lands on top of a commit someone pushed meanwhile", async () => {
        const repo = await open();
        await repo.sync();
        edit(repo, { v1: 90, v2: 10 });
        const sha = await repo.commit([STACK_FILE], { author: alice, message: "canary" });
        await repo.push();
        const mine = path.join(root, "carol");
        git(root, "clone", "-q", remote, mine);
        fs.writeFileSync(path.join(mine, "README.md"), "notes\n");
        git(mine, "add", "README.md");
        git(mine, "commit", "-q", "-m", "docs");
        git(mine, "push", "-q", "origin", "HEAD:main");
        const carol = git(mine, "rev-parse", "HEAD");
        const reverted = await repo.revert(sha, { author: alice, message: "up failed: revert canary" });
        assert.deepEqual((await repo.show(reverted)).parents, [carol]);
        assert.equal(remoteFile(remote), stackYaml({ v1: 100 }));
        assert.equal(remoteFile(remote, "main", "README.md"), "notes\n");
    });

    it("propose pushes a branch, leaves main alone, and apply fast-forwards main to it", async () => {
        const repo = await open();
        const base = await repo.sync();
        edit(repo, { v1: 50, v2: 50 });
        const proposal = await repo.propose("proposals/wisdom-1", [STACK_FILE], { author: alice, message: "p" });
        assert.deepEqual(proposal, { branch: "proposals/wisdom-1", sha: proposal.sha, base });
        assert.equal(remoteHead(remote), base);
        assert.equal(remoteHead(remote, "proposals/wisdom-1"), proposal.sha);
        assert.equal(await repo.head(), base);
        assert.equal(fs.readFileSync(path.join(repo.dir, STACK_FILE), "utf8"), stackYaml({ v1: 100 }));

        const other = await open("reviewer");
        assert.deepEqual(await other.applyProposal("proposals/wisdom-1"), { sha: proposal.sha, base });
        assert.equal(remoteHead(remote), proposal.sha);
        assert.equal(remoteHead(remote, "proposals/wisdom-1"), undefined, "the proposal branch is deleted");
        assert.equal(fs.readFileSync(path.join(other.dir, STACK_FILE), "utf8"), stackYaml({ v1: 50, v2: 50 }));
    });

    it("apply of a proposal after main moved is a conflict and main is unchanged", async () => {
        const repo = await open();
        await repo.sync();
        edit(repo, { v1: 50, v2: 50 });
        const proposal = await repo.propose("p1", [STACK_FILE], { author: alice, message: "p" });
        edit(repo, { v1: 90, v2: 10 });
        const moved = await repo.commit([STACK_FILE], { author: bob, message: "meanwhile" });
        await repo.push();
        await assert.rejects(repo.applyProposal("p1"), isConflict("main", proposal.sha, moved));
        assert.equal(remoteHead(remote), moved);
        assert.equal(remoteHead(remote, "p1"), proposal.sha, "the proposal is kept");
        assert.equal(await repo.head(), moved);
        await assert.rejects(repo.applyProposal("missing"), /no proposal branch missing/);
        edit(repo, { v2: 100 });
        await assert.rejects(
            repo.propose("p1", [STACK_FILE], { author: alice, message: "again" }),
            /proposal branch p1 already exists/,
        );
        assert.equal(remoteHead(remote, "p1"), proposal.sha);
        assert.equal(await repo.head(), moved);
    });

    it("a remote URL with credentials is redacted from error messages", async () => {
        const dir = path.join(root, "creds");
        await assert.rejects(
            ConfigRepo.open({ remote: "https://user:s3cret@127.0.0.1:9/x.git", dir, timeoutMs: 20_000 }),
            (e: unknown) => {
                assert.ok(e instanceof GitError, String(e));
                assert.doesNotMatch(e.message, /s3cret/);
                assert.doesNotMatch(e.stderr, /s3cret/);
                assert.match(e.message, /^git fetch failed/);
                return true;
            },
        );
        // Messages of ours that name the remote.
        const withCreds = "https://user:s3cret@127.0.0.1:9/x.git";
        await assert.rejects(ConfigRepo.open({ remote, dir }), (e: unknown) => {
            assert.ok(e instanceof GitError);
            assert.match(e.message, /is a clone of https:\/\/\*\*\*@127\.0\.0\.1:9\/x\.git, not of/);
            return true;
        });
        fs.writeFileSync(path.join(root, "busy"), "");
        await assert.rejects(ConfigRepo.open({ remote: withCreds, dir: root }), (e: unknown) => {
            assert.ok(e instanceof GitError);
            assert.match(e.message, /cannot clone https:\/\/\*\*\*@127/);
            assert.doesNotMatch(e.message, /s3cret/);
            return true;
        });
        assert.equal(redact("fatal: https://u:tok%40en@h/x and tok@en"), "fatal: https://***@h/x and tok@en");
        assert.equal(redact("bad tok@en", "https://u:tok%40en@h/x"), "bad ***");
    });

    it("authorOf makes a git identity of any principal", () => {
        assert.deepEqual(authorOf("alice"), { name: "alice", email: "alice@model-release.invalid" });
        assert.deepEqual(authorOf("bob@example.com"), { name: "bob@example.com", email: "bob@example.com" });
        assert.deepEqual(authorOf("ci@team"), { name: "ci@team", email: "ci-team@model-release.invalid" });
        assert.deepEqual(authorOf("system:serviceaccount:ns:x"), {
            name: "system:serviceaccount:ns:x",
            email: "system-serviceaccount-ns-x@model-release.invalid",
        });
        assert.deepEqual(authorOf("<Eve>\n"), { name: "Eve", email: "eve@model-release.invalid" });
        assert.deepEqual(authorOf(""), { name: "unknown", email: "unknown@model-release.invalid" });
    });

    it("commitMessage: a one-line subject, traffic and changes in the body, and trailers", () => {
        const message = commitMessage({
            operation: "promote",
            release: "wisdom",
            stack: "dev",
            trafficBefore: [
                { version: "v1", percent: 90, role: "primary" },
                { version: "v2", percent: 10, role: "candidate" },
            ] as { version: string; percent: number; role: string }[],
            trafficAfter: [{ version: "v2", percent: 100 }],
            changes: { update: 2, create: 1 },
            requestId: "req-42",
        });
        assert.equal(
            message,
            [
                "promote wisdom (stack dev): v1 90% v2 10% -> v2 100%",
                "",
                "Traffic before: v1 90% v2 10%",
                "Traffic after: v2 100%",
                "Preview: update 2, create 1",
                "",
                "Model-Release-Operation: promote",
                "Model-Release-Release: wisdom",
                "Model-Release-Stack: dev",
                "Model-Release-Request-Id: req-42",
                "",
            ].join("\n"),
        );
        const same = commitMessage({
            operation: "set",
            release: "wisdom",
            stack: "org/proj/dev",
            trafficBefore: [{ version: "v1", percent: 100 }],
            trafficAfter: [{ version: "v1", percent: 100 }],
            changes: {},
        });
        assert.match(same, /^set wisdom \(stack org\/proj\/dev\): v1 100% \(traffic unchanged\)\n/);
        assert.match(same, /Preview: no resource changes/);
        assert.doesNotMatch(same, /Request-Id/);
    });
});
