// The optimiser's entry (issue 14): the report from evidence, the evidence endpoint, the control loop.
// The rest of the house calls these and nothing else in src/optimizer/.
export { AutoOptimizer, type AutoOptimizerOptions, type Decision } from "./auto.ts";
export { type ReportCommandArgs, runOptimizationReport } from "./command.ts";
export { EVIDENCE_VERSION, type Evidence, type GatewaySettings } from "./evidence.ts";
export { EVIDENCE_PATH, mountEvidence } from "./evidence-route.ts";
export { buildReport, type OptimizationReport, type ReportInputs } from "./report.ts";
