/**
 * Who calls the HTTP service, and what they may do.
 *
 * Principals come from a tokens file (names, roles, grants and the sha256 of each token: the
 * service never holds a plaintext token) and, optionally, from JWTs signed by a configured issuer.
 * Roles: `viewer` reads (status, preview), `operator` also applies within its grants, `admin`
 * does everything. Grants are globs of stack names, release names and namespaces; an operator
 * may apply only where all three match (a missing list grants nothing).
 */
import { KeyObject, createHash, createPublicKey, createSecretKey, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";

import * as jose from "jose";
import { parse as parseYaml } from "yaml";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Where an operator may apply: globs (`*` any run of characters, `?` one character). */
export interface Grants {
    stacks: readonly string[];
    releases: readonly string[];
    namespaces: readonly string[];
}

/** An authenticated caller. */
export interface Principal {
    name: string;
    role: Role;
    grants: Grants;
    /** How the caller authenticated (recorded in the audit log). */
    via: "token" | "jwt";
}

/** One entry of the tokens file. */
export interface TokenEntry {
    name: string;
    role: Role;
    /** Lowercase hex sha256 of the token. */
    tokenSha256: string;
    grants?: Partial<Grants>;
}

/** The name the deprecated single token (MODEL_RELEASE_TOKEN) authenticates as. */
export const LEGACY_PRINCIPAL = "legacy-token";
/** Shortest single token accepted: 32 characters (e.g. 16 random bytes in hex). */
export const MIN_LEGACY_TOKEN_LENGTH = 32;

/** A credential that is missing, unknown, expired or otherwise unusable (HTTP 401). */
export class AuthError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "AuthError";
    }
}

/** A tokens file or JWT setting the service cannot start with. */
export class AuthConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "AuthConfigError";
    }
}

/** Names appear in audit records and logs: a conservative alphabet (covers OIDC and k8s `sub`s). */
const PRINCIPAL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@:=+/-]{0,255}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Glob alphabets: the names they match plus `*` and `?`. */
const GLOB_ALPHABET: Record<keyof Grants, RegExp> = {
    stacks: /^[A-Za-z0-9_.*?-]{1,100}$/,
    releases: /^[a-z0-9*?-]{1,63}$/,
    namespaces: /^[a-z0-9*?-]{1,63}$/,
};
const GRANT_KEYS = Object.keys(GLOB_ALPHABET) as (keyof Grants)[];
const MAX_GLOBS = 64;

const NO_GRANTS: Grants = { stacks: [], releases: [], namespaces: [] };

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of a value that must not be echoed (it may be a secret pasted by mistake). */
function described(value: unknown): string {
    return typeof value === "string" ? `a string of ${value.length} characters` : `a ${typeof value}`;
}

/** Grants as written (file or JWT claim), checked; the problem otherwise. */
function grantsOf(value: unknown, where: string): Grants | string {
    if (value === undefined) return NO_GRANTS;
    if (!isObject(value)) return `${where} must be a map with stacks, releases and namespaces lists`;
    const unknown = Object.keys(value).filter((k) => !(GRANT_KEYS as string[]).includes(k));
    if (unknown.length > 0) return `${where} has unknown keys ${unknown.join(", ")}; use ${GRANT_KEYS.join(", ")}`;
    const grants: Record<string, string[]> = {};
    for (const key of GRANT_KEYS) {
        const list = value[key] ?? [];
        if (!Array.isArray(list) || list.length > MAX_GLOBS) {
            return `${where}.${key} must be a list of at most ${MAX_GLOBS} globs`;
        }
        for (const glob of list) {
            if (typeof glob !== "string" || !GLOB_ALPHABET[key].test(glob)) {
                return `${where}.${key} has ${JSON.stringify(glob)}, not a glob of ${key.slice(0, -1)} names`;
            }
        }
        grants[key] = list as string[];
    }
    return grants as unknown as Grants;
}

/**
 * The entries of a tokens file (YAML or JSON: `tokens: [{name, role, tokenSha256, grants?}]`),
 * checked as a whole: every problem is reported, and no entry may carry a plaintext token.
 */
export function parseTokensFile(text: string): TokenEntry[] {
    let doc: unknown;
    try {
        doc = parseYaml(text);
    } catch (error) {
        throw new AuthConfigError(`is not valid YAML or JSON (${(error as Error).message.split("\n")[0]})`);
    }
    if (!isObject(doc) || !Array.isArray(doc.tokens) || Object.keys(doc).length !== 1) {
        throw new AuthConfigError("must be a map with one key, tokens: a list of {name, role, tokenSha256, grants?}");
    }
    const problems: string[] = [];
    const entries: TokenEntry[] = [];
    const names = new Set<string>();
    const hashes = new Set<string>();
    doc.tokens.forEach((raw: unknown, i: number) => {
        const at = `tokens[${i}]`;
        if (!isObject(raw)) {
            problems.push(`${at} must be a map with name, role, tokenSha256 and optional grants`);
            return;
        }
        if ("token" in raw) {
            problems.push(
                `${at} has a plaintext token; store only its hash: tokenSha256: <printf %s "$TOKEN" | sha256sum>`,
            );
        }
        const extra = Object.keys(raw).filter((k) => !["name", "role", "tokenSha256", "grants", "token"].includes(k));
        if (extra.length > 0) problems.push(`${at} has unknown keys ${extra.join(", ")}`);
        const { name, role, tokenSha256 } = raw;
        if (typeof name !== "string" || !PRINCIPAL_NAME.test(name)) {
            problems.push(`${at}.name must be letters, digits and _.@:=+/- (at most 256), got ${JSON.stringify(name)}`);
        } else if (names.has(name)) {
            problems.push(`${at}.name ${name} is used twice`);
        } else {
            names.add(name);
        }
        if (!ROLES.includes(role as Role)) {
            problems.push(`${at}.role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
        }
        // A malformed hash is described, never echoed: it may be the token itself pasted by mistake.
        if (typeof tokenSha256 !== "string" || !SHA256_HEX.test(tokenSha256.toLowerCase())) {
            problems.push(
                `${at}.tokenSha256 must be 64 hex digits (the sha256 of the token), got ${described(tokenSha256)}; ` +
                    `compute it with: printf %s "$TOKEN" | sha256sum`,
            );
        } else if (hashes.has(tokenSha256.toLowerCase())) {
            problems.push(`${at}.tokenSha256 is the same as another entry's: every principal needs its own token`);
        } else {
            hashes.add(tokenSha256.toLowerCase());
        }
        const grants = grantsOf(raw.grants, `${at}.grants`);
        if (typeof grants === "string") problems.push(grants);
        if (raw.grants !== undefined && role !== "operator") {
            problems.push(`${at}.grants only apply to operators (viewers read everything, admins do everything)`);
        }
        if (problems.length === 0) {
            entries.push({
                name: name as string,
                role: role as Role,
                tokenSha256: (tokenSha256 as string).toLowerCase(),
                ...(raw.grants !== undefined ? { grants: grants as Grants } : {}),
            });
        }
    });
    if (doc.tokens.length === 0) problems.push("tokens is empty");
    if (problems.length > 0) throw new AuthConfigError(problems.join("; "));
    return entries;
}

/** Reads and checks a tokens file; the error names the file. */
export function loadTokensFile(file: string): TokenEntry[] {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (error) {
        throw new AuthConfigError(`cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return parseTokensFile(text);
}

/** The hex sha256 of a token, as the tokens file stores it. */
export function sha256Hex(token: string): string {
    return createHash("sha256").update(token, "utf8").digest("hex");
}

/** What a bearer token may contain (RFC 6750 b64token). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The deprecated single token as an admin principal named `legacy-token`. Refused when shorter
 * than 32 characters: a guessable token would give full access.
 */
export function legacyTokenEntry(token: string): TokenEntry {
    if (token.length < MIN_LEGACY_TOKEN_LENGTH) {
        throw new AuthConfigError(
            `is ${token.length} characters long; use at least ${MIN_LEGACY_TOKEN_LENGTH} random characters ` +
                `(openssl rand -hex 32), or move to MODEL_RELEASE_TOKENS_FILE`,
        );
    }
    if (!B64TOKEN.test(token)) {
        throw new AuthConfigError("contains characters a bearer token cannot carry; use openssl rand -hex 32");
    }
    return { name: LEGACY_PRINCIPAL, role: "admin", tokenSha256: sha256Hex(token) };
}

/**
 * Token lookup by hash. The presented token is hashed and compared with every entry in constant
 * time (no early exit), so neither timing nor a prefix of a stored hash tells anything.
 */
export class TokenTable {
    private readonly entries: { digest: Buffer; principal: Principal }[];

    constructor(entries: readonly TokenEntry[]) {
        const names = new Set<string>();
        const hashes = new Set<string>();
        this.entries = entries.map((e) => {
            if (names.has(e.name)) throw new AuthConfigError(`principal ${e.name} is defined twice`);
            if (hashes.has(e.tokenSha256)) {
                throw new AuthConfigError(
                    `principal ${e.name} has the same token as another: every principal needs its own`,
                );
            }
            names.add(e.name);
            hashes.add(e.tokenSha256);
            return {
                digest: Buffer.from(e.tokenSha256, "hex"),
                principal: { name: e.name, role: e.role, grants: { ...NO_GRANTS, ...e.grants }, via: "token" },
            };
        });
    }

    get size(): number {
        return this.entries.length;
    }

    lookup(token: string): Principal | undefined {
        const digest = createHash("sha256").update(token, "utf8").digest();
        let found: Principal | undefined;
        for (const entry of this.entries) {
            if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.principal;
        }
        return found;
    }
}

/** JWT verification settings. */
export interface JwtOptions {
    issuer: string;
    audience: string;
    /** Exactly one key source. */
    key: { jwksFile: string } | { publicKeyFile: string } | { secretFile: string };
    /** Accepted `alg`s; default by key kind (asymmetric ones for JWKS/PEM, HS* for a secret). */
    algorithms?: readonly string[];
    /** Claim holding the role (default `role`), the grants (default `grants`), the name (default `sub`). */
    roleClaim?: string;
    grantsClaim?: string;
    nameClaim?: string;
    /** Seconds of clock skew tolerated on exp/nbf/iat (default 30). */
    clockToleranceSeconds?: number;
}

export const ASYMMETRIC_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
];
export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"];
/** An HS secret shorter than this is refused (RFC 7518: at least the hash size). */
const MIN_HMAC_SECRET_BYTES = 32;

type VerifyKey = KeyObject | jose.JWTVerifyGetKey;

/** Verifies JWT bearer tokens and turns their claims into principals. */
export class JwtVerifier {
    private constructor(
        private readonly key: VerifyKey,
        private readonly options: Required<Omit<JwtOptions, "key">>,
    ) {}

    /** Loads the key (file contents are checked here, so a bad key stops start-up). */
    static load(options: JwtOptions): JwtVerifier {
        const read = (file: string) => {
            try {
                return fs.readFileSync(file);
            } catch (error) {
                throw new AuthConfigError(`key file cannot be read (${(error as NodeJS.ErrnoException).code})`);
            }
        };
        let key: VerifyKey;
        let algorithms: readonly string[];
        if ("jwksFile" in options.key) {
            let jwks: jose.JSONWebKeySet;
            try {
                jwks = JSON.parse(read(options.key.jwksFile).toString("utf8")) as jose.JSONWebKeySet;
                key = jose.createLocalJWKSet(jwks);
            } catch (error) {
                if (error instanceof AuthConfigError) throw error;
                throw new AuthConfigError(`JWKS file is not a JSON Web Key Set (${(error as Error).message})`);
            }
            if (jwks.keys.some((k) => k.kty === "oct")) {
                throw new AuthConfigError("JWKS file holds a symmetric (oct) key; use MODEL_RELEASE_JWT_SECRET_FILE");
            }
            algorithms = ASYMMETRIC_ALGORITHMS;
        } else if ("publicKeyFile" in options.key) {
            try {
                key = createPublicKey(read(options.key.publicKeyFile));
            } catch (error) {
                if (error instanceof AuthConfigError) throw error;
                throw new AuthConfigError("public key file is not a PEM public key (SPKI or certificate)");
            }
            algorithms = ASYMMETRIC_ALGORITHMS;
        } else {
            const secret = read(options.key.secretFile);
            // A trailing newline from `echo` or an editor is not part of the secret.
            const trimmed = Buffer.from(secret.toString("utf8").replace(/\r?\n$/, ""), "utf8");
            if (trimmed.length < MIN_HMAC_SECRET_BYTES) {
                throw new AuthConfigError(
                    `HS secret is ${trimmed.length} bytes; use at least ${MIN_HMAC_SECRET_BYTES} (openssl rand -hex 32)`,
                );
            }
            key = createSecretKey(trimmed);
            algorithms = HMAC_ALGORITHMS;
        }
        const allowed = options.algorithms ?? algorithms;
        const wrong = allowed.filter((a) => !algorithms.includes(a));
        if (wrong.length > 0) {
            throw new AuthConfigError(
                `algorithms ${wrong.join(", ")} do not fit the key; use ${algorithms.join(", ")}`,
            );
        }
        return new JwtVerifier(key, {
            issuer: options.issuer,
            audience: options.audience,
            algorithms: allowed,
            roleClaim: options.roleClaim ?? "role",
            grantsClaim: options.grantsClaim ?? "grants",
            nameClaim: options.nameClaim ?? "sub",
            clockToleranceSeconds: options.clockToleranceSeconds ?? 30,
        });
    }

    async verify(token: string): Promise<Principal> {
        let payload: jose.JWTPayload;
        try {
            ({ payload } = await jose.jwtVerify(token, this.key as jose.JWTVerifyGetKey, {
                issuer: this.options.issuer,
                audience: this.options.audience,
                algorithms: [...this.options.algorithms],
                clockTolerance: this.options.clockToleranceSeconds,
                requiredClaims: ["exp"],
            }));
        } catch (error) {
            if (error instanceof jose.errors.JWTExpired) throw new AuthError("token expired");
            if (error instanceof jose.errors.JWTClaimValidationFailed) {
                throw new AuthError(`token rejected: ${error.claim} claim is not accepted`);
            }
            throw new AuthError("token rejected: not a valid token from the configured issuer");
        }
        const name = payload[this.options.nameClaim];
        if (typeof name !== "string" || !PRINCIPAL_NAME.test(name)) {
            throw new AuthError(`token rejected: the ${this.options.nameClaim} claim is not a usable name`);
        }
        const role = payload[this.options.roleClaim];
        if (!ROLES.includes(role as Role)) {
            throw new AuthError(
                `token rejected: the ${this.options.roleClaim} claim is not one of ${ROLES.join(", ")}`,
            );
        }
        const grants = role === "operator" ? grantsOf(payload[this.options.grantsClaim], "grants") : NO_GRANTS;
        if (typeof grants === "string") throw new AuthError(`token rejected: ${grants}`);
        return { name, role: role as Role, grants, via: "jwt" };
    }
}

/** Compact JWS: three base64url parts (a hex token never has dots). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Turns an `Authorization` header into a principal. */
export class Authenticator {
    constructor(
        private readonly tokens: TokenTable,
        private readonly jwt?: JwtVerifier,
    ) {
        if (tokens.size === 0 && !jwt) throw new AuthConfigError("no tokens and no JWT issuer: nobody could call");
    }

    /** The principal of a request; AuthError (401) for a missing, malformed, unknown or expired credential. */
    async authenticate(authorization: string | undefined): Promise<Principal> {
        if (authorization === undefined || authorization === "") {
            throw new AuthError("send Authorization: Bearer <token>");
        }
        const match = /^Bearer ([^\s]{1,8192})$/i.exec(authorization);
        if (!match || !B64TOKEN.test(match[1])) throw new AuthError("the Authorization header is not Bearer <token>");
        const credential = match[1];
        if (this.jwt && COMPACT_JWS.test(credential)) return this.jwt.verify(credential);
        const principal = this.tokens.lookup(credential);
        if (!principal) throw new AuthError("unknown token");
        return principal;
    }
}

/** Glob (`*`, `?`) to an anchored regular expression; every other character is literal. */
function globRegExp(glob: string): RegExp {
    const body = glob
        .split("")
        .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")))
        .join("");
    return new RegExp(`^${body}$`);
}

export function globMatch(globs: readonly string[], value: string): boolean {
    return globs.some((g) => globRegExp(g).test(value));
}

export type Action = "read" | "apply";

/** What an operation touches; the namespace is looked up only when a grant depends on it. */
export interface Target {
    stack: string;
    release: string;
    /** The release's namespace; undefined when it cannot be determined (then refused). */
    namespace: () => Promise<string | undefined>;
}

/**
 * Why the principal may not do this, or undefined when it may. Reads are open to every role;
 * applies to admins, and to operators whose grants match the stack, the release and its namespace.
 */
export async function authorize(principal: Principal, action: Action, target: Target): Promise<string | undefined> {
    if (action === "read" || principal.role === "admin") return undefined;
    if (principal.role !== "operator") return `${principal.name} is a ${principal.role}: it may not apply`;
    const { grants } = principal;
    if (!globMatch(grants.stacks, target.stack)) return `${principal.name} has no grant on stack ${target.stack}`;
    if (!globMatch(grants.releases, target.release)) {
        return `${principal.name} has no grant on release ${target.release}`;
    }
    if (grants.namespaces.includes("*")) return undefined;
    if (grants.namespaces.length === 0) return `${principal.name} has no grant on any namespace`;
    const namespace = await target.namespace();
    if (namespace === undefined) {
        return `the namespace of release ${target.release} cannot be determined, so ${principal.name}'s namespace grants cannot be checked`;
    }
    if (!globMatch(grants.namespaces, namespace)) return `${principal.name} has no grant on namespace ${namespace}`;
    return undefined;
}
