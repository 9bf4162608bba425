/**
 * The `rollout` section of a release: the schedule (stepped or gated by strategy), the analysis
 * checks judged each interval (analysis.ts), and who is notified. Valid sections resolve to a
 * ResolvedRollout that the automation layer runs.
 */
import { ResolvedRollout, expandStepWeight, parseDuration } from "../rollout";
import { RolloutOnSuccess, Strategy } from "../types";
import { analysisOf, webhookUrlOf } from "./analysis";
import { Checker, isObject } from "./checker";
import { durationOf, httpUrlOf } from "./fields";
import { show } from "./issues";
import { shareFieldOf } from "./tables";
import { rangeOf, settingsOf } from "./settings";

const ROLLOUT_KEYS = settingsOf("RolloutArgs");
const NOTIFY_KEYS = settingsOf("NotifyArgs");

/** How often the checks are judged when the rollout does not say. */
export const DEFAULT_ROLLOUT_INTERVAL = "1m";
/** Strategies whose rollout moves the candidate's share in steps (`steps` or `stepWeight`). */
export const STEPPED_STRATEGIES: readonly Strategy[] = ["blue-green", "kserve-canary"];
/** Strategies whose rollout judges the candidate `iterations` times, then promotes it. */
export const GATED_STRATEGIES: readonly Strategy[] = ["canary", "mirror"];

/** `steps: [...]`: increasing candidate percents from 1 to 99; [] when any is wrong. */
function explicitStepsOf(checker: Checker, path: string, value: unknown): number[] {
    if (!Array.isArray(value) || value.length === 0) {
        checker.add(
            path,
            `must be a non-empty list of candidate percents, got ${show(value)}`,
            "write e.g. steps: [10, 25, 50]",
        );
        return [];
    }
    const percents = value.map((step, index) =>
        checker.integer(
            `${path}[${index}]`,
            step,
            ...rangeOf("RolloutArgs", "steps[]"),
            "use a candidate percent from 1 to 99; the promotion after the last step gives it 100",
        ),
    );
    percents.forEach((step, index) => {
        const previous = index > 0 ? percents[index - 1] : undefined;
        if (step !== undefined && previous !== undefined && step <= previous) {
            checker.add(
                `${path}[${index}]`,
                `must be above steps[${index - 1}] (${previous}), got ${step}`,
                "list the percents in increasing order, each once",
            );
        }
    });
    return percents.every((step) => step !== undefined) ? (percents as number[]) : [];
}

/**
 * The stepped schedule: `steps`, or `stepWeight` up to `maxWeight`. A gated strategy refuses
 * all three (its candidate's share is its match or mirrorPercent); [] when absent or wrong.
 */
function scheduleOf(
    checker: Checker,
    path: string,
    value: Record<string, unknown>,
    strategy: Strategy | undefined,
): number[] {
    const stepped = strategy !== undefined && STEPPED_STRATEGIES.includes(strategy);
    const gated = strategy !== undefined && GATED_STRATEGIES.includes(strategy);
    const scheduleKeys = (["steps", "stepWeight", "maxWeight"] as const).filter((key) => value[key] !== undefined);
    if (gated) {
        for (const key of scheduleKeys) {
            checker.add(
                `${path}.${key}`,
                `has no effect with strategy ${strategy}: its rollout is gated, not stepped (the candidate's share is set by its ${shareFieldOf(strategy)})`,
                "remove it; set iterations to how many intervals are judged before the promotion",
            );
        }
        return [];
    }
    let steps: number[] = [];
    if (value.steps !== undefined) {
        steps = explicitStepsOf(checker, `${path}.steps`, value.steps);
    }
    if (value.steps !== undefined && (value.stepWeight !== undefined || value.maxWeight !== undefined)) {
        const key = value.stepWeight !== undefined ? "stepWeight" : "maxWeight";
        checker.add(
            `${path}.${key}`,
            "cannot be combined with steps",
            "keep either steps, or stepWeight with maxWeight",
        );
    } else if (value.stepWeight !== undefined && value.maxWeight === undefined) {
        checker.add(
            `${path}.maxWeight`,
            "is required with stepWeight",
            "set the last step's percent, e.g. maxWeight: 50",
        );
    } else if (value.maxWeight !== undefined && value.stepWeight === undefined) {
        checker.add(
            `${path}.stepWeight`,
            "is required with maxWeight",
            "set the percent added per step, e.g. stepWeight: 10",
        );
    } else if (value.stepWeight !== undefined) {
        const stepWeight = checker.integer(
            `${path}.stepWeight`,
            value.stepWeight,
            ...rangeOf("RolloutArgs", "stepWeight"),
            "use the percent added per step, e.g. 10",
        );
        const maxWeight = checker.integer(
            `${path}.maxWeight`,
            value.maxWeight,
            stepWeight ?? rangeOf("RolloutArgs", "maxWeight")[0],
            rangeOf("RolloutArgs", "maxWeight")[1],
            "use the last step's percent, from stepWeight to 99; the promotion after it gives the candidate 100",
        );
        if (stepWeight !== undefined && maxWeight !== undefined) {
            steps = expandStepWeight(stepWeight, maxWeight);
        }
    }
    if (stepped && scheduleKeys.length === 0) {
        checker.add(
            `${path}.steps`,
            `is required with strategy ${strategy}: its rollout moves the candidate's share in steps`,
            "set steps, e.g. [10, 25, 50], or stepWeight and maxWeight",
        );
    }
    return steps;
}

/** How many intervals are judged: refused with a stepped strategy (each step is judged once). */
function iterationsOf(checker: Checker, path: string, value: unknown, strategy: Strategy | undefined): number {
    const stepped = strategy !== undefined && STEPPED_STRATEGIES.includes(strategy);
    if (!stepped) {
        return (
            checker.integer(
                path,
                value,
                ...rangeOf("RolloutArgs", "iterations"),
                "use how many intervals the checks are judged before the promotion, e.g. 5",
            ) ?? 1
        );
    }
    if (value !== undefined) {
        checker.add(
            path,
            `has no effect with strategy ${strategy}: a stepped rollout judges each step once`,
            "remove it; add steps to judge the candidate more often",
        );
    }
    return 1;
}

/** The webhook URLs rollout events are POSTed to. */
function notifyOf(checker: Checker, path: string, value: unknown): string[] {
    const urls: string[] = [];
    const entries = checker.list(
        path,
        value,
        "receivers",
        'write e.g. notify: [{webhook: "https://hooks.example.com/rollouts"}]',
    );
    entries?.forEach((entry, index) => {
        const entryPath = `${path}[${index}]`;
        if (!isObject(entry)) {
            checker.add(
                entryPath,
                `must be {webhook: <url>}, got ${show(entry)}`,
                'write e.g. {webhook: "https://hooks.example.com/rollouts"}',
            );
            return;
        }
        checker.unknownKeys(entryPath, entry, NOTIFY_KEYS);
        if (entry.webhook === undefined) {
            checker.add(`${entryPath}.webhook`, "is required", "give the http(s) URL notifications are POSTed to");
        }
        const url = webhookUrlOf(
            checker,
            `${entryPath}.webhook`,
            entry.webhook,
            '"https://hooks.example.com/rollouts"',
        );
        if (url !== undefined) urls.push(url);
    });
    return urls;
}

/**
 * The rollout section of a release, with defaults. Its shape depends on the strategy: blue-green
 * and kserve-canary rollouts are stepped (steps, or stepWeight up to maxWeight), canary and mirror
 * rollouts are gated (iterations); strategy none (a release between rollouts) accepts either.
 * Returns undefined when the section is absent or has problems (they are added to the checker).
 */
export function rolloutOf(
    checker: Checker,
    path: string,
    value: unknown,
    strategy: Strategy | undefined,
): ResolvedRollout | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!isObject(value)) {
        checker.add(
            path,
            `must be an object, got ${show(value)}`,
            "see the README's rollout reference, e.g. rollout: {steps: [10, 50], analysis: [...]}",
        );
        return undefined;
    }
    const issuesBefore = checker.issues.length;
    checker.unknownKeys(path, value, ROLLOUT_KEYS);
    const steps = scheduleOf(checker, path, value, strategy);
    const iterations = iterationsOf(checker, `${path}.iterations`, value.iterations, strategy);
    const interval = durationOf(checker, `${path}.interval`, value.interval) ?? {
        text: DEFAULT_ROLLOUT_INTERVAL,
        seconds: parseDuration(DEFAULT_ROLLOUT_INTERVAL) as number,
    };
    const failureLimit =
        checker.integer(
            `${path}.failureLimit`,
            value.failureLimit,
            ...rangeOf("RolloutArgs", "failureLimit"),
            "use how many failed judgements trigger the rollback, e.g. 1",
        ) ?? 1;
    const prometheusUrl = httpUrlOf(
        checker,
        `${path}.prometheusUrl`,
        value.prometheusUrl,
        '"http://prometheus.istio-system:9090"',
    );
    const analysis = analysisOf(checker, `${path}.analysis`, value.analysis, interval.text);
    const onSuccess = checker.oneOf(`${path}.onSuccess`, value.onSuccess, Object.values(RolloutOnSuccess)) ?? "promote";
    const notify = notifyOf(checker, `${path}.notify`, value.notify);

    if (checker.issues.length > issuesBefore) {
        return undefined;
    }
    const rollout: ResolvedRollout = {
        steps,
        iterations,
        intervalSeconds: interval.seconds,
        interval: interval.text,
        failureLimit,
        analysis,
        onSuccess,
        notify,
    };
    if (prometheusUrl !== undefined) rollout.prometheusUrl = prometheusUrl;
    return rollout;
}
