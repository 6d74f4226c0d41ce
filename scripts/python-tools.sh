# Functions to install the Python tools the tests use (cfn-lint, aws-sam-translator for the SAM
# transform, moto's server as the SSM endpoint of the JWT secret) in a virtualenv, and to run the
# SSM emulator. Source it after scripts/dynamodb-local.sh (it uses free_port and
# wait_until_answering).

PYTHON_TOOLS=("cfn-lint==1.51.0" "aws-sam-translator==1.110.0" "moto[server]==5.2.1")

# Installs the tools under $1/py (once) and exports CHECKOFF_PYTHON, the venv's python.
python_tools_install() {
    local venv=$1/py
    if ! "$venv/bin/python" -c 'import cfnlint, samtranslator, moto' 2>/dev/null; then
        if ! python3 -m venv "$venv" 2>/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_TOOLS[@]}"
    fi
    export CHECKOFF_PYTHON="$venv/bin/python"
}

# Starts moto's server for SSM on a free loopback port and exports AWS_ENDPOINT_URL_SSM.
ssm_emulator_start() {
    local cache=$1 port
    port=$(free_port)
    "$cache/py/bin/moto_server" -H 127.0.0.1 -p "$port" >"$cache/ssm-emulator.log" 2>&1 &
    SSM_EMULATOR_PID=$!
    export AWS_ENDPOINT_URL_SSM="http://127.0.0.1:$port"
    wait_until_answering "The SSM emulator" "$SSM_EMULATOR_PID" "$cache/ssm-emulator.log" \
        curl -s -o /dev/null "$AWS_ENDPOINT_URL_SSM/moto-api/"
}

ssm_emulator_stop() {
    if [ -n "${SSM_EMULATOR_PID:-}" ]; then
        kill "$SSM_EMULATOR_PID" 2>/dev/null || true
        wait "$SSM_EMULATOR_PID" 2>/dev/null || true
    fi
}
