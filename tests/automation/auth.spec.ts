import * as assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as jose from "jose";

import {
    AuthConfigError,
    AuthError,
    Authenticator,
    JwtOptions,
    JwtVerifier,
    LEGACY_PRINCIPAL,
    Principal,
    TokenTable,
    authorize,
    globMatch,
    legacyTokenEntry,
    loadTokensFile,
    parseTokensFile,
    sha256Hex,
} from "../../automation/auth";

const hex = (bytes = 32) => randomBytes(bytes).toString("hex");

describe("auth: tokens file", () => {
    const hash = sha256Hex("a-token");

    it("reads YAML and JSON, lower-casing the hashes", () => {
        const yaml = `tokens:
  - name: ci-bot
    role: operator
    tokenSha256: ${hash.toUpperCase()}
    grants: { stacks: [dev], releases: ["wisdom-*"], namespaces: [models] }
  - name: dashboard
    role: viewer
    tokenSha256: ${sha256Hex("other")}
`;
        const entries = parseTokensFile(yaml);
        assert.deepEqual(entries[0], {
            name: "ci-bot",
            role: "operator",
            tokenSha256: hash,
            grants: { stacks: ["dev"], releases: ["wisdom-*"], namespaces: ["models"] },
        });
        assert.equal(entries[1].role, "viewer");
        assert.equal(entries[1].grants, undefined);
        const json = JSON.stringify({ tokens: [{ name: "root", role: "admin", tokenSha256: hash }] });
        assert.deepEqual(parseTokensFile(json), [{ name: "root", role: "admin", tokenSha256: hash }]);
    });

    it("refuses an entry whose tokenSha256 is not 64 hex digits, without echoing it", () => {
        for (const bad of [
            "abc",
            "s3cret-plaintext-token-0123456789",
            hash.slice(0, 63),
            `${hash}0`,
            `${hash.slice(0, 63)}g`,
        ]) {
            const file = `tokens:\n  - { name: x, role: admin, tokenSha256: "${bad}" }\n`;
            assert.throws(
                () => parseTokensFile(file),
                (error: Error) => {
                    assert.ok(error instanceof AuthConfigError);
                    assert.match(error.message, /tokens\[0\]\.tokenSha256 must be 64 hex digits/);
                    assert.match(error.message, /sha256sum/);
                    assert.ok(!error.message.includes(bad), "the value is not echoed");
                    return true;
                },
            );
        }
        assert.throws(() => parseTokensFile("tokens:\n  - { name: x, role: admin, tokenSha256: 12 }\n"), /tokenSha256/);
    });

    it("refuses plaintext tokens, unknown keys and roles, duplicates, misplaced grants, bad globs", () => {
        const cases: [string, RegExp][] = [
            [`- { name: x, role: admin, token: abc, tokenSha256: ${hash} }`, /plaintext token/],
            [`- { name: x, role: admin, tokenSha256: ${hash}, colour: red }`, /unknown keys colour/],
            [`- { name: x, role: root, tokenSha256: ${hash} }`, /role must be one of viewer, operator, admin/],
            [`- { name: "x y", role: admin, tokenSha256: ${hash} }`, /name must be/],
            [
                `- { name: x, role: admin, tokenSha256: ${hash} }\n  - { name: x, role: viewer, tokenSha256: ${sha256Hex("2")} }`,
                /used twice/,
            ],
            [
                `- { name: x, role: admin, tokenSha256: ${hash} }\n  - { name: y, role: viewer, tokenSha256: ${hash} }`,
                /same as another/,
            ],
            [`- { name: x, role: viewer, tokenSha256: ${hash}, grants: { stacks: ["*"] } }`, /only apply to operators/],
            [
                `- { name: x, role: operator, tokenSha256: ${hash}, grants: { stacks: ["a/b"] } }`,
                /not a glob of stack names/,
            ],
            [
                `- { name: x, role: operator, tokenSha256: ${hash}, grants: { clusters: ["*"] } }`,
                /unknown keys clusters/,
            ],
            [`- { name: x, role: operator, tokenSha256: ${hash}, grants: { releases: "*" } }`, /must be a list/],
        ];
        for (const [entries, message] of cases) {
            assert.throws(() => parseTokensFile(`tokens:\n  ${entries}\n`), message, entries);
        }
        assert.throws(() => parseTokensFile("tokens: []"), /tokens is empty/);
        assert.throws(() => parseTokensFile(`- { name: x }`), /one key, tokens/);
        assert.throws(() => parseTokensFile(`tokens: [}`), /not valid YAML or JSON/);
    });

    it("names a file that cannot be read without failing on its path", () => {
        assert.throws(
            () => loadTokensFile(path.join(os.tmpdir(), "no-such-dir", "tokens.yaml")),
            /cannot be read \(ENOENT\)/,
        );
    });
});

describe("auth: token lookup", () => {
    const admin = hex();
    const viewer = hex();
    const table = new TokenTable([
        { name: "admin", role: "admin", tokenSha256: sha256Hex(admin) },
        { name: "viewer", role: "viewer", tokenSha256: sha256Hex(viewer) },
    ]);

    it("finds a principal by its token only", () => {
        assert.equal(table.lookup(admin)?.name, "admin");
        assert.equal(table.lookup(viewer)?.name, "viewer");
        assert.deepEqual(table.lookup(viewer)?.grants, { stacks: [], releases: [], namespaces: [] });
        for (const wrong of [
            sha256Hex(admin),
            sha256Hex(admin).slice(0, 32),
            admin.slice(0, 63),
            `${admin}a`,
            "",
            admin.toUpperCase(),
        ]) {
            assert.equal(table.lookup(wrong), undefined, wrong);
        }
    });

    it("keeps the deprecated single token as an admin named legacy-token, refusing short ones", () => {
        assert.throws(() => legacyTokenEntry("x".repeat(31)), /31 characters long; use at least 32/);
        assert.throws(() => legacyTokenEntry(`${"x".repeat(32)} y`), /cannot carry/);
        const legacy = hex(16);
        const entry = legacyTokenEntry(legacy);
        assert.deepEqual(entry, { name: LEGACY_PRINCIPAL, role: "admin", tokenSha256: sha256Hex(legacy) });
        assert.equal(new TokenTable([entry]).lookup(legacy)?.role, "admin");
        assert.throws(() => new TokenTable([entry, entry]), /defined twice/);
        assert.throws(() => new TokenTable([entry, { ...entry, name: "other" }]), /same token as another/);
    });

    it("parses the Authorization header strictly", async () => {
        const auth = new Authenticator(table);
        assert.equal((await auth.authenticate(`Bearer ${admin}`)).name, "admin");
        assert.equal((await auth.authenticate(`bearer ${admin}`)).name, "admin");
        for (const header of [
            undefined,
            "",
            admin,
            `Bearer  ${admin}`,
            `Bearer ${admin} `,
            `Basic ${admin}`,
            `Bearer ${admin}\u00e9`,
        ]) {
            await assert.rejects(auth.authenticate(header), AuthError, String(header));
        }
        assert.throws(() => new Authenticator(new TokenTable([])), /nobody could call/);
    });
});

describe("auth: authorization", () => {
    const principal = (role: Principal["role"], grants: Partial<Principal["grants"]> = {}): Principal => ({
        name: role,
        role,
        grants: { stacks: [], releases: [], namespaces: [], ...grants },
        via: "token",
    });
    let lookups = 0;
    /** `null`: the namespace cannot be determined. */
    const target = (stack: string, release: string, namespace: string | null = "models") => ({
        stack,
        release,
        namespace: async () => {
            lookups++;
            return namespace ?? undefined;
        },
    });
    const operator = principal("operator", {
        stacks: ["dev", "staging-*"],
        releases: ["wis?om"],
        namespaces: ["models", "team-*"],
    });

    beforeEach(() => (lookups = 0));

    it("lets every role read, only admins and granted operators apply", async () => {
        for (const role of ["viewer", "operator", "admin"] as const) {
            assert.equal(await authorize(principal(role), "read", target("prod", "x")), undefined);
        }
        assert.match(
            String(await authorize(principal("viewer"), "apply", target("dev", "wisdom"))),
            /viewer may not apply|is a viewer/,
        );
        assert.equal(await authorize(principal("admin"), "apply", target("prod", "anything")), undefined);
        assert.equal(lookups, 0, "reads, admins and viewers need no namespace");
    });

    it("matches the stack, the release and the namespace", async () => {
        assert.equal(await authorize(operator, "apply", target("staging-eu", "wisdom")), undefined);
        assert.equal(await authorize(operator, "apply", target("dev", "wisdom", "team-a")), undefined);
        assert.match(String(await authorize(operator, "apply", target("prod", "wisdom"))), /no grant on stack prod/);
        assert.match(String(await authorize(operator, "apply", target("dev", "fraud"))), /no grant on release fraud/);
        assert.match(
            String(await authorize(operator, "apply", target("dev", "wisdom", "kube-system"))),
            /namespace kube-system/,
        );
        assert.match(String(await authorize(operator, "apply", target("dev", "wisdom", null))), /cannot be determined/);
        assert.match(
            String(await authorize(principal("operator"), "apply", target("dev", "wisdom"))),
            /no grant on stack/,
        );
        const anyNamespace = principal("operator", { stacks: ["*"], releases: ["*"], namespaces: ["*"] });
        lookups = 0;
        assert.equal(await authorize(anyNamespace, "apply", target("dev", "wisdom", null)), undefined);
        assert.equal(lookups, 0, "namespaces ['*'] needs no lookup");
        const noNamespaces = principal("operator", { stacks: ["*"], releases: ["*"] });
        assert.match(
            String(await authorize(noNamespaces, "apply", target("dev", "wisdom"))),
            /no grant on any namespace/,
        );
    });

    it("treats only * and ? as glob characters", () => {
        assert.equal(globMatch(["dev*"], "dev-1"), true);
        assert.equal(globMatch(["dev*"], "prod-dev"), false);
        assert.equal(globMatch(["a.b"], "axb"), false, "a dot is a dot");
        assert.equal(globMatch(["a.b"], "a.b"), true);
        assert.equal(globMatch(["w?"], "wx"), true);
        assert.equal(globMatch(["w?"], "w"), false);
        assert.equal(globMatch([], "anything"), false);
    });
});

describe("auth: JWT", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jwt-"));
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pemFile = path.join(dir, "public.pem");
    fs.writeFileSync(pemFile, publicKey.export({ type: "spki", format: "pem" }));
    const secret = hex();
    const secretFile = path.join(dir, "secret");
    fs.writeFileSync(secretFile, `${secret}\n`);
    const base: Omit<JwtOptions, "key"> = { issuer: "https://issuer.example", audience: "model-release" };

    type SigningKey = Parameters<jose.SignJWT["sign"]>[0];
    const sign = (
        claims: jose.JWTPayload,
        edit: (jwt: jose.SignJWT) => jose.SignJWT = (j) => j,
        key: SigningKey = privateKey,
        header: jose.JWTHeaderParameters = { alg: "ES256" },
    ) =>
        edit(
            new jose.SignJWT(claims)
                .setProtectedHeader(header)
                .setIssuer(base.issuer)
                .setAudience(base.audience)
                .setIssuedAt()
                .setExpirationTime("5m"),
        ).sign(key);

    const verifier = JwtVerifier.load({ ...base, key: { publicKeyFile: pemFile } });
    const auth = new Authenticator(new TokenTable([]), verifier);

    it("accepts a token from the issuer, for the audience, taking name, role and grants from claims", async () => {
        const grants = { stacks: ["dev"], releases: ["*"], namespaces: ["models"] };
        const principal = await auth.authenticate(
            `Bearer ${await sign({ sub: "system:serviceaccount:ci:deployer", role: "operator", grants })}`,
        );
        assert.deepEqual(principal, {
            name: "system:serviceaccount:ci:deployer",
            role: "operator",
            grants,
            via: "jwt",
        });
    });

    it("refuses expired, wrong-audience, wrong-issuer, expiry-less and unsigned tokens with 401", async () => {
        const claims = { sub: "ci", role: "admin" };
        const cases: [string, Promise<string>, RegExp][] = [
            ["expired", sign(claims, (j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 3600)), /expired/],
            ["wrong audience", sign(claims, (j) => j.setAudience("another-service")), /aud/],
            ["wrong issuer", sign(claims, (j) => j.setIssuer("https://evil.example")), /iss/],
            ["not yet valid", sign(claims, (j) => j.setNotBefore("10m")), /nbf/],
            [
                "no expiry",
                new jose.SignJWT(claims)
                    .setProtectedHeader({ alg: "ES256" })
                    .setIssuer(base.issuer)
                    .setAudience(base.audience)
                    .sign(privateKey),
                /exp/,
            ],
            [
                "unsigned (alg none)",
                Promise.resolve(
                    new jose.UnsecuredJWT(claims)
                        .setIssuer(base.issuer)
                        .setAudience(base.audience)
                        .setExpirationTime("5m")
                        .encode(),
                ),
                /rejected/,
            ],
            [
                "signed by another key",
                sign(claims, undefined, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey),
                /rejected/,
            ],
            // Algorithm confusion: HMAC keyed with the public key's PEM text.
            [
                "HS256 with the public key as secret",
                sign(claims, undefined, new Uint8Array(fs.readFileSync(pemFile)), { alg: "HS256" }),
                /rejected/,
            ],
            ["no role", sign({ sub: "ci" }), /role claim/],
            ["unknown role", sign({ sub: "ci", role: "root" }), /role claim/],
            ["no subject", sign({ role: "admin" }), /sub claim/],
            ["bad grants", sign({ sub: "ci", role: "operator", grants: { stacks: "*" } }), /grants/],
        ];
        for (const [what, token, message] of cases) {
            await assert.rejects(auth.authenticate(`Bearer ${await token}`), (error: Error) => {
                assert.ok(error instanceof AuthError, what);
                assert.match(error.message, message, what);
                return true;
            });
        }
    });

    it("verifies with a JWKS file or an HS secret file", async () => {
        const jwksFile = path.join(dir, "jwks.json");
        const jwk = { ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256" };
        fs.writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
        const byJwks = JwtVerifier.load({ ...base, key: { jwksFile } });
        const token = await sign({ sub: "ci", role: "viewer" }, undefined, privateKey, { alg: "ES256", kid: "k1" });
        assert.equal((await byJwks.verify(token)).role, "viewer");

        const bySecret = JwtVerifier.load({ ...base, key: { secretFile } });
        const hs = await sign({ sub: "ci", role: "admin" }, undefined, new TextEncoder().encode(secret), {
            alg: "HS256",
        });
        assert.equal((await bySecret.verify(hs)).name, "ci");
        await assert.rejects(
            bySecret.verify(await sign({ sub: "ci", role: "admin" })),
            /rejected/,
            "an ES256 token is not accepted by an HS verifier",
        );
    });

    it("refuses weak or mismatched keys at load", () => {
        const short = path.join(dir, "short");
        fs.writeFileSync(short, "too-short");
        assert.throws(() => JwtVerifier.load({ ...base, key: { secretFile: short } }), /HS secret is 9 bytes/);
        const octJwks = path.join(dir, "oct.json");
        fs.writeFileSync(octJwks, JSON.stringify({ keys: [{ kty: "oct", k: "AAAA" }] }));
        assert.throws(() => JwtVerifier.load({ ...base, key: { jwksFile: octJwks } }), /symmetric/);
        assert.throws(() => JwtVerifier.load({ ...base, key: { publicKeyFile: secretFile } }), /not a PEM public key/);
        assert.throws(
            () => JwtVerifier.load({ ...base, key: { publicKeyFile: pemFile }, algorithms: ["HS256"] }),
            /do not fit the key/,
        );
        assert.throws(
            () => JwtVerifier.load({ ...base, key: { jwksFile: path.join(dir, "missing") } }),
            /cannot be read/,
        );
    });

    it("sends non-JWT bearer values to the token table", async () => {
        const opaque = hex();
        const both = new Authenticator(
            new TokenTable([{ name: "bot", role: "viewer", tokenSha256: sha256Hex(opaque) }]),
            verifier,
        );
        assert.equal((await both.authenticate(`Bearer ${opaque}`)).name, "bot");
        await assert.rejects(both.authenticate(`Bearer ${hex()}`), /unknown token/);
    });
});
