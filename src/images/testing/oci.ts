/**
 * Test support: reads a pushed image straight from a registry's HTTP API (manifest → config → layer tarballs),
 * so tests check what was really pushed, independently of the builder that pushed it.
 * @module
 */
import { gunzipSync } from "node:zlib";
import { MANIFEST_ACCEPT } from "../registry-check.ts";

export interface PulledImage {
  /** The OCI/docker image config (`config.Env`, `config.Labels`, `config.WorkingDir`, `config.User`, ...). */
  readonly config: { config?: { Env?: string[]; Labels?: Record<string, string>; WorkingDir?: string; User?: string } };
  /** Regular files of all layers merged (later layers win), keyed by absolute path. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Every path in any layer (files, dirs, links), for "was this excluded" checks. */
  readonly paths: ReadonlySet<string>;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

async function get(url: string, accept?: string): Promise<Response> {
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  if (!res.ok) throw new Error(`GET ${url} answered HTTP ${res.status}`);
  return res;
}

/** Minimal tar reader (ustar + pax path records), enough for image layers. */
export function readTar(buf: Buffer, onEntry: (path: string, type: string, data: Buffer) => void): void {
  let off = 0;
  let paxPath: string | undefined;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a: number, n: number) => header.subarray(a, a + n).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(str(124, 12).trim() || "0", 8);
    const type = str(156, 1) || "0";
    const prefix = str(345, 155);
    let name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    const data = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      for (const rec of data.toString("utf8").split("\n")) {
        const m = /^\d+ path=(.*)$/.exec(rec);
        if (m) paxPath = m[1];
      }
      continue;
    }
    if (type === "g") continue;
    if (paxPath !== undefined) name = paxPath;
    paxPath = undefined;
    onEntry(`/${name.replace(/^\.?\//, "").replace(/\/$/, "")}`, type, data);
  }
}

/** Pulls `host/repository:reference` (plain HTTP) and merges its layers. */
export async function pullImage(host: string, repository: string, reference: string, platform = "linux/amd64"): Promise<PulledImage> {
  const base = `http://${host}/v2/${repository}`;
  let manifest = (await (await get(`${base}/manifests/${reference}`, MANIFEST_ACCEPT)).json()) as {
    manifests?: Descriptor[];
    config: Descriptor;
    layers: Descriptor[];
  };
  if (manifest.manifests) {
    const pick = manifest.manifests.find((m) => `${m.platform?.os}/${m.platform?.architecture}` === platform) ?? manifest.manifests[0]!;
    manifest = (await (await get(`${base}/manifests/${pick.digest}`, MANIFEST_ACCEPT)).json()) as typeof manifest;
  }
  const config = (await (await get(`${base}/blobs/${manifest.config.digest}`)).json()) as PulledImage["config"];
  const files = new Map<string, Buffer>();
  const paths = new Set<string>();
  for (const layer of manifest.layers) {
    let blob = Buffer.from(await (await get(`${base}/blobs/${layer.digest}`)).arrayBuffer());
    if (blob[0] === 0x1f && blob[1] === 0x8b) blob = gunzipSync(blob);
    readTar(blob, (path, type, data) => {
      paths.add(path);
      if (type === "0" || type === "7") files.set(path, Buffer.from(data));
    });
  }
  return { config, files, paths };
}
