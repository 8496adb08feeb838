# Builds the `rolemine` binary and runs it on a slim Debian image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p rolemine-cli \
 && cp target/release/rolemine /usr/local/bin/rolemine

FROM debian:bookworm-slim
# curl: for the compose healthcheck. PostgreSQL binaries are not needed: the image always runs
# against DATABASE_URL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/rolemine rolemine \
 && install -d -o rolemine -g rolemine /var/lib/rolemine/uploads
# The uploads directory exists in the image so that a named volume mounted there (compose)
# starts out owned by the rolemine user.
COPY --from=build /usr/local/bin/rolemine /usr/local/bin/rolemine
USER rolemine
WORKDIR /var/lib/rolemine
ENV ROLEMINE_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["rolemine"]
CMD ["serve"]
