# The image deploy/'s CronJobs run (ghcr.io/kq-dev/kq:0.1.0):
#   docker build -t ghcr.io/kq-dev/kq:0.1.0 .
# kq with snapshots in S3, GCS and Azure Blob, in a distroless image that
# runs as the non-root user 65532 the manifests ask for. The binary needs
# only glibc and libgcc (rustls, no OpenSSL), which cc-debian12 carries.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kq-cli --bin kq --features s3,gcs,azure-blob \
 && install -D target/release/kq /out/kq

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kq /usr/local/bin/kq
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kq"]
