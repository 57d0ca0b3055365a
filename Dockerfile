# actlab-server image. Both stages install through deploy/install-deps.sh,
# so the image and a bare-metal install never drift apart (tests/deploy
# checks that the runtime stage installs every RUNTIME_PACKAGES entry).
# Sessions: the SQLite file on the volume by default; replicas pass
# --store=postgresql://... instead (deploy/k8s).

FROM debian:bookworm AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN bash deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)" --target actlab-server actlab \
 && install -D build/server/actlab-server /out/actlab-server \
 && install -D build/client/actlab /out/actlab

FROM debian:bookworm-slim AS runtime
COPY deploy/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && useradd --system --uid 10001 --home-dir /var/lib/actlab --create-home actlab
COPY --from=build /out/ /usr/local/bin/
USER actlab
WORKDIR /var/lib/actlab
VOLUME /var/lib/actlab
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["actlab", "--server=127.0.0.1:50051", "--timeout=2", "health"]
# SIGTERM drains: health NOT_SERVING, in-flight calls finish, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["actlab-server", "--listen=0.0.0.0:50051", "--store=/var/lib/actlab/actlab.db"]
