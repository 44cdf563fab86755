/**
 * `FLYTE_LAUNCHER=torchrun`: one torchrun agent per simulated node, each starting `nprocPerNode` rank
 * processes through Node (`--no_python`), exactly as the `clustered` launcher does in a pod.
 *
 * Flags use torchrun's underscore spelling, which every torch version accepts (torch 1.13 rejects the dashed
 * forms). `--redirects=2 --tee=2` works around a crash of torch 1.13's elastic agent on Python 3.11 (Debian
 * bookworm's python3-torch): its `Std.from_str` cannot map "0" (the default) or "3" to a flag on 3.11 and the
 * agent dies with `AttributeError: 'NoneType' object has no attribute 'get'`; "2" (stderr) maps fine. With it,
 * each worker's stderr also goes to a log file under `logDir` and is echoed with a `[default<N>]:` prefix.
 */
import { NonRecoverableError, RuntimeUserError } from "../errors.ts";
import type { RdzvBackend } from "./policies.ts";
import type { Member } from "./process-group.ts";
import { rankCommand } from "./rank-protocol.ts";

export function torchrunArgs(o: {
  replicas: number; nprocPerNode: number; node: number; port: number; backend: RdzvBackend; maxRestarts: number; runId: string; logDir: string;
  /** The rendezvous host. @default "127.0.0.1" (a local run) */
  masterAddr?: string;
}): string[] {
  const host = o.masterAddr ?? "127.0.0.1";
  const rdzv = o.backend === "static"
    ? [`--rdzv_backend=static`, `--master_addr=${host}`, `--master_port=${o.port}`, `--node_rank=${o.node}`]
    : [`--rdzv_backend=c10d`, `--rdzv_endpoint=${host}:${o.port}`, `--rdzv_id=${o.runId}`];
  const [node, rankArgs] = rankCommand();
  return [
    `--nnodes=${o.replicas}`, `--nproc_per_node=${o.nprocPerNode}`, ...rdzv, `--max_restarts=${o.maxRestarts}`,
    "--redirects=2", "--tee=2", `--log_dir=${o.logDir}`, "--no_python", "--", node, ...rankArgs,
  ];
}

/** The tracebacks torch 1.13's elastic agent dies with on Python 3.11 before any rank starts. */
const AGENT_CRASH = /'NoneType' object has no attribute 'get'|unsupported operand type\(s\) for \|: 'NoneType'/;

/** Why a torchrun agent failed when no rank reported an error. */
export function torchrunFailure(agent: Member): NonRecoverableError | RuntimeUserError {
  const exit = agent.exit!;
  if (exit.spawnError) {
    const missing = (exit.spawnError as NodeJS.ErrnoException).code === "ENOENT";
    // Retrying on the same machine cannot make torchrun appear (or stop it crashing).
    return new NonRecoverableError(
      missing
        ? `[${agent.label}] FLYTE_LAUNCHER=torchrun, but no torchrun is on PATH. Install PyTorch (apt-get install python3-torch, or pip install torch), or unset FLYTE_LAUNCHER to use the built-in launcher.`
        : `[${agent.label}] could not start torchrun: ${exit.spawnError.message}.`,
      { code: "ClusteredLauncherUnavailable" },
    );
  }
  const tail = agent.stderrTail.slice(-8).join("\n");
  if (AGENT_CRASH.test(tail)) {
    return new NonRecoverableError(
      `[${agent.label}] torchrun crashed inside its elastic agent before starting any rank (a known bug of torch 1.13 on Python 3.11, e.g. Debian bookworm's python3-torch). Unset FLYTE_LAUNCHER to use the built-in launcher, or install torch >= 2. torchrun said:\n${tail}`,
      { code: "TorchrunCrashed" },
    );
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new RuntimeUserError("ClusteredRankFailed", `[${agent.label}] torchrun ${how} and no rank reported an error.${tail ? ` Last stderr lines:\n${tail}` : ""}`);
}
