/**
 * The release description: what a user writes under `releases.<name>` in stack config, and what
 * the `ModelRelease` component takes. Plain data (no Pulumi inputs) so that it can be validated
 * and planned before any resource is registered.
 */

// The closed sets of names below are const objects with a type of the same name: the type is the
// union of the names (as strict as a literal union), and the component provider's schema
// inference turns the object into an enum (it refuses bare literal unions).

/** Where the versions run. */
export const Environment = {
    /** KServe InferenceServices in Knative (Serverless) mode. */
    Kserve: "kserve",
    /** KServe InferenceServices in Standard (RawDeployment) mode. */
    KserveRaw: "kserve-raw",
    /** KServe ModelMesh InferenceServices. */
    KserveModelMesh: "kserve-modelmesh",
    /** Plain Deployments and Services. */
    Deployment: "deployment",
} as const;
export type Environment = (typeof Environment)[keyof typeof Environment];

/** How traffic is shared between versions. */
export const Strategy = {
    /** The primary gets everything. */
    None: "none",
    /** Weighted split. */
    BlueGreen: "blue-green",
    /** Matching requests (headers, query, ...) go to the candidates. */
    Canary: "canary",
    /** The primary answers; a share of its requests is copied to the candidates. */
    Mirror: "mirror",
    /**
     * KServe's own canary: `canaryTrafficPercent` over Knative revisions (environment `kserve`), or
     * KServe v0.20's `spec.canary` predictors of one InferenceService (environment `kserve-raw`).
     */
    KserveCanary: "kserve-canary",
} as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

/** KServe inference protocol of the predictor. */
export const ProtocolVersion = {
    V1: "v1",
    V2: "v2",
    GrpcV1: "grpc-v1",
    GrpcV2: "grpc-v2",
} as const;
export type ProtocolVersion = (typeof ProtocolVersion)[keyof typeof ProtocolVersion];

/**
 * Which names to write into `serving.kserve.io/deploymentMode`: `current` (KServe >= 0.16:
 * Knative, Standard, ModelMesh) or `legacy` (KServe <= 0.15: Serverless, RawDeployment, ModelMesh).
 */
export const DeploymentModeNames = {
    /** KServe >= 0.16: Knative, Standard, ModelMesh. */
    Current: "current",
    /** KServe <= 0.15: Serverless, RawDeployment, ModelMesh. */
    Legacy: "legacy",
} as const;
export type DeploymentModeNames = (typeof DeploymentModeNames)[keyof typeof DeploymentModeNames];

/** How the update waits for a Deployment (see `ReadinessArgs.deployment`). */
export const DeploymentReadiness = {
    /** The provider's Deployment await logic (rollout complete). */
    Rollout: "rollout",
    /** The Available condition only (`pulumi.com/waitFor`). */
    Available: "available",
} as const;
export type DeploymentReadiness = (typeof DeploymentReadiness)[keyof typeof DeploymentReadiness];

/** What a rollout does after its last step. */
export const RolloutOnSuccess = {
    /** Promote the candidate. */
    Promote: "promote",
    /** Hold at the last step until a person promotes. */
    Hold: "hold",
} as const;
export type RolloutOnSuccess = (typeof RolloutOnSuccess)[keyof typeof RolloutOnSuccess];

/**
 * A Kubernetes object spec given as is (escape hatches). Its values are `any` because the
 * component schema's only type for arbitrary JSON is `Any`, which inference takes from `any`
 * alone; the API server validates the spec against the CRD's schema.
 * @minProperties 1
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ObjectSpec = { [key: string]: any };

/**
 * An Istio StringMatch: exactly one of the three keys.
 * @minProperties 1
 * @maxProperties 1
 */
export interface StringMatch {
    /** @minLength 1 */
    exact?: string;
    /** May be empty in a URI match only (`prefix: ""` matches every path); validation checks that. */
    prefix?: string;
    /** @minLength 1 */
    regex?: string;
}

/** A subset of Istio's HTTPMatchRequest: the conditions a canary candidate can be selected by. */
export interface HttpMatch {
    /**
     * Request headers (lower-case names) and how their values must match.
     * @minProperties 1
     * @propertyNames {"pattern": "^[a-z0-9!#$%&'*+.^_`|~-]+$"}
     */
    headers?: Record<string, StringMatch>;
    /**
     * Headers that must be absent or not match.
     * @minProperties 1
     * @propertyNames {"pattern": "^[a-z0-9!#$%&'*+.^_`|~-]+$"}
     */
    withoutHeaders?: Record<string, StringMatch>;
    /**
     * Query parameters and how their values must match.
     * @minProperties 1
     */
    queryParams?: Record<string, StringMatch>;
    /** Request path. */
    uri?: StringMatch;
    /** HTTP method. */
    method?: StringMatch;
    /**
     * Only requests from workloads with these labels (mesh only).
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    sourceLabels?: Record<string, string>;
    /**
     * Only requests from this namespace (mesh only).
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    sourceNamespace?: string;
    /**
     * Match name, used in Istio's access logs.
     * @minLength 1
     */
    name?: string;
}

/** Model format of a KServe predictor (stack config also takes the name alone: `modelFormat: sklearn`). */
export interface ModelFormat {
    /**
     * Framework name, e.g. `sklearn`.
     * @minLength 1
     */
    name: string;
    /**
     * Optional format version used to pick a runtime, e.g. `1` or `1.2`.
     * @minLength 1
     */
    version?: string;
}

/** One version of the model (or application). */
export interface VersionArgs {
    /**
     * Object name; default `<app>-<index>` (for `kserve-canary` in Knative mode, the app name; in
     * Standard mode it is the predictor name, required: `<app>-<name>-predictor`). At most 63
     * characters here; validation allows fewer where KServe derives longer names from it
     * (`kserve` 47, `kserve-raw` 48: validate/tables.ts MAX_VERSION_NAME), a bound that depends on
     * the environment and so stays in code.
     * @pattern ^[a-z]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    name?: string;
    /**
     * Labels of this version's objects; they win over the app labels.
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    labels?: Record<string, string>;
    /**
     * Annotations of this version's objects; they win over the app annotations.
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    annotations?: Record<string, string>;
    /**
     * Where KServe loads the model from (gs://, s3://, pvc://, http(s)://, ...).
     * @minLength 1
     */
    storageUri?: string;
    /**
     * Container image (deployment environment; custom KServe predictors).
     * @minLength 1
     */
    image?: string;
    /** Model format; overrides the app default. */
    modelFormat?: ModelFormat;
    /**
     * ServingRuntime / ClusterServingRuntime name; overrides the app default.
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
     * @maxLength 253
     */
    runtime?: string;
    /** Inference protocol; overrides the app default. */
    protocolVersion?: ProtocolVersion;
    /**
     * Container port (deployment); overrides the app default.
     * @asType integer
     * @minimum 1
     * @maximum 65535
     */
    port?: number;
    /** Extra arguments for the model server container. */
    args?: string[];
    /**
     * Relative weight (blue-green). Set it on every version or on none (equal split).
     * @asType integer
     * @minimum 0
     * @maximum 9007199254740991
     */
    weight?: number;
    /**
     * Requests that go to this candidate (canary); default: header `traffic: test`.
     * @minItems 1
     */
    match?: HttpMatch[];
    /**
     * kserve-canary in Standard mode (`kserve-raw`): this canary's percent of the app's requests
     * (KServe v0.20 `spec.canary[].trafficPercent`); the first version, the stable predictor, takes
     * the rest. Required on every later version. 0 pins the canary: deployed, no traffic (with
     * `serving.kserve.io/autoscalerClass: none` KServe also scales it to zero).
     * @asType integer
     * @minimum 0
     * @maximum 100
     */
    trafficPercent?: number;
    /**
     * Percentage of the primary's requests mirrored to this candidate (mirror); default 100.
     * @asType integer
     * @minimum 0
     * @maximum 100
     */
    mirrorPercent?: number;
    /** Escape hatch: the complete InferenceService `spec`, used as given. */
    inferenceServiceSpec?: ObjectSpec;
    /** Escape hatch: the complete Deployment `spec`, used as given. */
    deploymentSpec?: ObjectSpec;
    /** Escape hatch: the complete Service `spec`, used as given. */
    serviceSpec?: ObjectSpec;
}

/** The split gateway for two-hop weighted routing to KServe predictors. */
export interface SplitGateway {
    /**
     * Istio Gateway (`<namespace>/<name>`) the VirtualService binds to for the second hop.
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$
     */
    gateway: string;
    /**
     * Cluster host of that gateway's Service.
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
     * @maxLength 253
     */
    service: string;
}

/** Which API the app's routing is written in. */
export const RoutingBackend = {
    /** An Istio VirtualService (the default). */
    Istio: "istio",
    /** A Gateway API HTTPRoute (gateway.networking.k8s.io/v1). */
    GatewayApi: "gateway-api",
} as const;
export type RoutingBackend = (typeof RoutingBackend)[keyof typeof RoutingBackend];

/** Routing knobs; every field has a default that matches a stock KServe + Istio install. */
export interface RoutingArgs {
    /**
     * `istio` (default): a VirtualService; `gateway-api`: an HTTPRoute attached to the app's
     * Service (GAMMA) and to `gateways` (deployment and kserve-raw environments).
     */
    backend?: RoutingBackend;
    /**
     * gateway-api: attach the HTTPRoute to the app's Service for mesh (east-west) traffic;
     * default true.
     */
    mesh?: boolean;
    /**
     * Extra gateways (`<namespace>/<name>`): Istio Gateways, or Gateway API Gateways with
     * `backend: gateway-api`. Istio's `mesh` is always included.
     */
    gateways?: string[];
    /** kserve / kserve-raw: where weighted splits take their second hop. */
    splitGateway?: SplitGateway;
    /**
     * Target of the app's ExternalName Service (kserve, kserve-raw, deployment).
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
     * @maxLength 253
     */
    entryTarget?: string;
    /** kserve-modelmesh: the ModelMesh Serving Service. */
    modelMesh?: ModelMeshServiceArgs;
}

/** The ModelMesh Serving Service that kserve-modelmesh releases route to. */
export interface ModelMeshServiceArgs {
    /**
     * Service name; default `modelmesh-serving`.
     * @pattern ^[a-z]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    service?: string;
    /**
     * Namespace of that Service; default the app namespace.
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    namespace?: string;
    /**
     * gRPC port; default 8033.
     * @asType integer
     * @minimum 1
     * @maximum 65535
     */
    port?: number;
}

/** How long a version may take to become Ready before the update fails. */
export interface ReadinessArgs {
    /**
     * Seconds; default 600.
     * @asType integer
     * @minimum 1
     * @maximum 86400
     */
    timeoutSeconds?: number;
    /**
     * Deployments: `rollout` (default) waits with the provider's Deployment await logic;
     * `available` waits for the Available condition only (`pulumi.com/waitFor`), for clusters
     * where pods cannot be observed.
     */
    deployment?: DeploymentReadiness;
}

/** Storage credentials the predictors use (a Secret and a ServiceAccount). */
export interface StorageCredentialsArgs {
    /**
     * Secret data, e.g. AWS_ACCESS_KEY_ID. Set with `pulumi config set --secret --path`.
     * @secret
     * @minProperties 1
     */
    data: Record<string, string>;
    /**
     * Annotations of the Secret, e.g. `serving.kserve.io/s3-endpoint`.
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    annotations?: Record<string, string>;
}

/** A Prometheus check: an instant PromQL query whose one value must lie within [min, max]. */
export interface PrometheusCheckArgs {
    /**
     * PromQL; placeholders `{{version}}` (candidate object name), `{{primary}}`, `{{namespace}}`,
     * `{{app}}` and `{{interval}}` (the rollout interval as a PromQL duration) are filled in.
     * @minLength 1
     */
    query: string;
    /** Lowest passing value. */
    min?: number;
    /** Highest passing value. */
    max?: number;
}

/** A webhook check: a POST with the rollout's context; a 2xx answer with `{"pass": true}` passes. */
export interface WebhookCheckArgs {
    /**
     * http(s) URL.
     * @secret
     */
    url: string;
    /**
     * Duration such as `10s`; default `10s`.
     * @pattern ^(\d+h)?(\d+m)?(\d+s)?$
     * @minLength 2
     */
    timeout?: string;
}

/** One check judged after every step: exactly one of `prometheus` and `webhook`. */
export interface AnalysisCheckArgs {
    /**
     * Name shown in reports and notifications (unique within the rollout).
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    name: string;
    prometheus?: PrometheusCheckArgs;
    webhook?: WebhookCheckArgs;
}

/** Where progress is reported: Slack-compatible JSON (`{"text": ...}`) POSTed per event. */
export interface NotifyArgs {
    /**
     * http(s) URL.
     * @secret
     */
    webhook: string;
}

/**
 * A candidate percent of a rollout step.
 * @asType integer
 * @minimum 1
 * @maximum 99
 */
export type StepPercent = number;

/**
 * An automated progressive rollout of the last version (the candidate): traffic moves in steps,
 * each an ordinary previewed, policy-checked config edit, and checks are judged between steps.
 */
export interface RolloutArgs {
    /**
     * blue-green, kserve-canary: candidate percent at each step, increasing, each 1..99.
     * @minItems 1
     * @uniqueItems true
     */
    steps?: StepPercent[];
    /**
     * blue-green, kserve-canary: instead of `steps`, percent added per step up to `maxWeight`.
     * @asType integer
     * @minimum 1
     * @maximum 99
     */
    stepWeight?: number;
    /**
     * Last step's percent with `stepWeight`.
     * @asType integer
     * @minimum 1
     * @maximum 99
     */
    maxWeight?: number;
    /**
     * canary, mirror: how many intervals the checks are judged before promotion; default 1.
     * @asType integer
     * @minimum 1
     * @maximum 9007199254740991
     */
    iterations?: number;
    /**
     * Duration to wait after each step before judging it (`30s`, `2m`, `1h`); default `1m`.
     * @pattern ^(\d+h)?(\d+m)?(\d+s)?$
     * @minLength 2
     */
    interval?: string;
    /**
     * Failed judgements (any check failing) that trigger the rollback; default 1.
     * @asType integer
     * @minimum 1
     * @maximum 9007199254740991
     */
    failureLimit?: number;
    /** Prometheus base URL for the prometheus checks; default the service's setting. */
    prometheusUrl?: string;
    /** The checks. */
    analysis?: AnalysisCheckArgs[];
    /** After the last step: `promote` (default), or `hold` until a person promotes. */
    onSuccess?: RolloutOnSuccess;
    /** Notification receivers. */
    notify?: NotifyArgs[];
}

/**
 * A model release without its storage credentials, whose values differ between the plain
 * description (`ReleaseArgs`) and the component (`ModelReleaseArgs`, secret inputs).
 */
export interface ReleaseFields {
    /**
     * Application name; default the release (component) name.
     * @pattern ^[a-z]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    name?: string;
    /**
     * Namespace of every object; default the provider's namespace (`default`).
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
     * @maxLength 63
     */
    namespace?: string;
    /** Where the versions run. */
    environment: Environment;
    /** How traffic is shared; default `none` (the primary gets everything). */
    strategy?: Strategy;
    /**
     * Labels merged into every object.
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    labels?: Record<string, string>;
    /**
     * Annotations merged into every object.
     * @propertyNames {"pattern": "^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/])?(?=[^/]{1,63}$)([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"}
     */
    annotations?: Record<string, string>;
    /** Default model format for the versions. */
    modelFormat?: ModelFormat;
    /**
     * Default ServingRuntime for the versions.
     * @pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
     * @maxLength 253
     */
    runtime?: string;
    /** Default inference protocol for the versions. */
    protocolVersion?: ProtocolVersion;
    /**
     * Default container port (deployment); default 80.
     * @asType integer
     * @minimum 1
     * @maximum 65535
     */
    port?: number;
    /**
     * Default image for the versions.
     * @minLength 1
     */
    image?: string;
    /**
     * The versions; the first is the primary.
     * @minItems 1
     */
    versions: VersionArgs[];
    /**
     * kserve-canary in Knative mode: percent of traffic for the latest revision; omit to promote.
     * @asType integer
     * @minimum 0
     * @maximum 100
     */
    canaryTrafficPercent?: number;
    /** kserve-canary in Knative mode: add `latest`/`prev` tag routes (`serving.kserve.io/enable-tag-routing`). */
    tagRouting?: boolean;
    /** Deployment mode names to write; default `current`. */
    deploymentModeNames?: DeploymentModeNames;
    /** Routing knobs. */
    routing?: RoutingArgs;
    /** Readiness gate. */
    readiness?: ReadinessArgs;
    /** Automated progressive rollout of the candidate (`model-release rollout`). */
    rollout?: RolloutArgs;
}

/** A model release: an application, its versions and how traffic reaches them. */
export interface ReleaseArgs extends ReleaseFields {
    /** Storage credentials for the predictors. */
    storageCredentials?: StorageCredentialsArgs;
}

/** A version as stack config may write it: `modelFormat` may also be the framework name alone. */
export interface VersionConfig extends Omit<VersionArgs, "modelFormat"> {
    /** Model format: `{name, version}`, or the name alone; overrides the app default. */
    modelFormat?: string | ModelFormat;
}

/**
 * A release as stack config (`releases.<name>`) may write it: the component's arguments plus the
 * shorthands that validation expands (`modelFormat: sklearn`).
 */
export interface ReleaseConfig extends Omit<ReleaseArgs, "modelFormat" | "versions"> {
    /** Default model format for the versions: `{name, version}`, or the name alone. */
    modelFormat?: string | ModelFormat;
    /**
     * The versions; the first is the primary.
     * @minItems 1
     */
    versions: VersionConfig[];
}
