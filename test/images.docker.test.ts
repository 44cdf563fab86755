/**
 * The ImageBuilder conformance suite against docker buildx. Docker is optional (CI installs buildah, not a
 * Docker daemon), so the suite is skipped, with the reason, where no daemon with buildx answers.
 */
import { DockerBuilder } from "../src/images/docker-builder.ts";
import { imageBuilderConformance } from "../src/images/builder.conformance.ts";

const probe = await new DockerBuilder().probe();

imageBuilderConformance({
  name: "docker",
  newBuilder: () => new DockerBuilder(),
  skip: probe.ok ? false : probe.reason,
});
