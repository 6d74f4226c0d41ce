//! `checkoff package`: the SAM template of every stage passes cfn-lint as SAM and after the SAM
//! transform (scripts/lint-template), and says what the route table and the stage say: each
//! route with its auth, the table's keys and indexes, roles limited to this table and this
//! parameter.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use checkoff::api::route_specs;
use checkoff::config::{ConfigFile, Stage};
use checkoff::deploy::template;
use serde_json::{Value, json};

use crate::cli::{checkoff, run};

/// Every kind of authorizer, and both CORS cases, besides the sample's stages.
const KINDS: &str = r#"
[stages.lam]
cors_origins = ["https://a.example.com", "https://b.example.com"]
architecture = "x86_64"
signup = "open"
session_ttl = "7d"
[stages.lam.authorizer]
kind = "lambda"
oidc_issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE1"
oidc_audience = "1example23456789"
[stages.cog.authorizer]
kind = "cognito"
user_pool_arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_EXAMPLE1"
claim = "cognito:username"
[stages.pool.authorizer]
kind = "cognito"
callback_urls = ["http://localhost:8000/", "http://localhost:8976/callback"]
[stages.iam]
cors_origins = ["https://app.example.com"]
[stages.iam.authorizer]
kind = "iam"
[stages.cus.authorizer]
kind = "custom"
function_arn = "arn:aws:lambda:us-east-1:123456789012:function:my-authorizer"
"#;

fn sample_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("checkoff.toml")
}

/// Every stage to check: (config file, stage name).
fn stages(kinds: &Path) -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    for config in [sample_config(), kinds.to_owned()] {
        let file = ConfigFile::load(Some(&config)).unwrap();
        for name in file.stages.keys() {
            all.push((config.clone(), name.clone()));
        }
    }
    all
}

/// The Python with cfn-lint and aws-sam-translator (scripts/test installs them).
fn python() -> Option<String> {
    if let Ok(python) = std::env::var("CHECKOFF_PYTHON") {
        return Some(python);
    }
    let found = Command::new("python3")
        .args(["-c", "import cfnlint, samtranslator"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("python3".into());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no cfn-lint: run the tests through scripts/test");
    }
    eprintln!("skipped: no cfn-lint / aws-sam-translator (scripts/test installs them)");
    None
}

#[test]
fn the_template_of_every_stage_passes_cfn_lint_as_sam_and_after_the_transform() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kinds = dir.path().join("kinds.toml");
    std::fs::write(&kinds, KINDS).unwrap();
    let mut templates = Vec::new();
    for (config, name) in stages(&kinds) {
        let out = dir.path().join(&name);
        let config = config.display().to_string();
        let outcome = run(
            checkoff(
                dir.path(),
                &[
                    "--config",
                    &config,
                    "--stage",
                    &name,
                    "package",
                    "--out",
                    &out.display().to_string(),
                ],
            ),
            None,
        );
        outcome
            .assert_code(0)
            .assert_stdout_contains("sam deploy --template-file");
        templates.push(out.join("template.yaml"));
    }
    let lint = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lint-template"))
        .args(&templates)
        .output()
        .expect("run scripts/lint-template");
    let report =
        String::from_utf8_lossy(&lint.stdout).into_owned() + &String::from_utf8_lossy(&lint.stderr);
    assert!(lint.status.success(), "{report}");
    assert_eq!(report.matches("ok   ").count(), templates.len(), "{report}");
}

#[test]
fn a_cognito_stage_without_a_pool_makes_the_seeds_pool_its_domain_and_a_pkce_client() {
    let doc = document(&stage_of(KINDS, "pool"));
    let resources = &doc["Resources"];
    let pool = &resources["UserPool"];
    assert_eq!(pool["Type"], "AWS::Cognito::UserPool");
    assert_eq!(pool["DeletionPolicy"], "Retain", "people outlive the stack");
    let props = &pool["Properties"];
    assert_eq!(props["UsernameAttributes"], json!(["email"]));
    assert_eq!(props["AutoVerifiedAttributes"], json!(["email"]));
    assert_eq!(
        props["Policies"]["PasswordPolicy"],
        json!({ "MinimumLength": 10, "RequireUppercase": true, "RequireLowercase": true,
                "RequireNumbers": true, "RequireSymbols": false })
    );
    let domain = &resources["UserPoolDomain"];
    assert_eq!(domain["Type"], "AWS::Cognito::UserPoolDomain");
    assert_eq!(
        domain["Properties"]["Domain"],
        json!({ "Fn::Sub": "checkoff-t-${AWS::AccountId}" })
    );
    let client = &resources["UserPoolWebClient"]["Properties"];
    assert_eq!(client["UserPoolId"], json!({ "Ref": "UserPool" }));
    assert_eq!(client["GenerateSecret"], false, "a browser keeps no secret");
    assert_eq!(client["AllowedOAuthFlows"], json!(["code"]));
    assert_eq!(client["AllowedOAuthFlowsUserPoolClient"], true);
    assert_eq!(
        client["AllowedOAuthScopes"],
        json!(["openid", "email", "profile"])
    );
    assert!(
        client["ExplicitAuthFlows"]
            .as_array()
            .unwrap()
            .contains(&json!("ALLOW_REFRESH_TOKEN_AUTH"))
    );
    let web_app =
        json!({ "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/t/" });
    let callbacks = json!([
        web_app,
        "http://localhost:8000/",
        "http://localhost:8976/callback"
    ]);
    assert_eq!(client["CallbackURLs"], callbacks);
    assert_eq!(client["LogoutURLs"], callbacks);
    // The gateway checks the pool's access tokens, and the function learns where people sign in
    // from the stage (not its environment, which would make a dependency cycle).
    let api = &resources["Api"]["Properties"];
    let authorizer = &api["Auth"]["Authorizers"]["CognitoAuthorizer"];
    assert_eq!(
        authorizer["UserPoolArn"],
        json!({ "Fn::GetAtt": ["UserPool", "Arn"] })
    );
    assert_eq!(
        authorizer["AuthorizationScopes"],
        json!(["openid", "aws.cognito.signin.user.admin"])
    );
    assert_eq!(
        api["Variables"]["signInClientId"],
        json!({ "Ref": "UserPoolWebClient" })
    );
    assert_eq!(
        api["Variables"]["signInDomain"],
        json!({ "Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com" })
    );
    let env = &resources["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["CHECKOFF_AUTHORIZER"], "cognito");
    assert!(
        !env.to_string().contains("UserPoolWebClient"),
        "the function's environment must not name the client: {env}"
    );
    for output in [
        "UserPoolId",
        "UserPoolClientId",
        "UserPoolIssuer",
        "SignInDomain",
    ] {
        assert!(doc["Outputs"].get(output).is_some(), "no output {output}");
    }

    // With a pool of its own, the stage makes none and keeps ID tokens, as before.
    let doc = document(&stage_of(KINDS, "cog"));
    assert!(doc["Resources"].get("UserPool").is_none());
    assert!(
        doc["Resources"]["Api"]["Properties"]
            .get("Variables")
            .is_none()
    );
    let authorizer =
        &doc["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["CognitoAuthorizer"];
    assert!(authorizer.get("AuthorizationScopes").is_none());
}

fn stage_of(config: &str, name: &str) -> Stage {
    toml::from_str::<ConfigFile>(config).unwrap().stages[name].clone()
}

fn document(stage: &Stage) -> Value {
    template(
        "t",
        stage,
        "checkoff-t",
        "/checkoff/t/jwt-secret",
        Path::new("/code.zip"),
    )
    .document
}

/// Every statement of every role in the template.
fn statements(doc: &Value) -> Vec<Value> {
    doc["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::IAM::Role")
        .flat_map(|r| {
            r["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

#[test]
fn every_route_is_deployed_with_the_auth_the_route_table_declares() {
    let routes = route_specs();
    assert!(routes.len() >= 9);
    for (config, name) in [
        (KINDS, "lam"),
        (KINDS, "cog"),
        (KINDS, "iam"),
        (KINDS, "cus"),
    ] {
        let doc = document(&stage_of(config, name));
        let events = doc["Resources"]["ApiFunction"]["Properties"]["Events"]
            .as_object()
            .unwrap();
        let deployed: BTreeSet<(String, String, bool)> = events
            .values()
            .map(|e| &e["Properties"])
            .filter(|p| p["Method"] != "OPTIONS")
            .map(|p| {
                (
                    p["Method"].as_str().unwrap().to_owned(),
                    p["Path"].as_str().unwrap().to_owned(),
                    p.get("Auth").is_none(),
                )
            })
            .collect();
        let declared: BTreeSet<(String, String, bool)> = routes
            .iter()
            .map(|r| (r.method.clone(), r.path.clone(), r.protected))
            .collect();
        assert_eq!(deployed, declared, "stage {name}");
        for event in events.values() {
            if let Some(auth) = event["Properties"].get("Auth") {
                assert_eq!(auth, &json!({"Authorizer": "NONE"}));
            }
        }
        assert!(doc["Resources"]["Api"]["Properties"]["Auth"]["DefaultAuthorizer"].is_string());
    }
    // Built in: the function checks tokens itself, so the gateway lets every route through.
    let builtin = document(&Stage::default());
    let events = builtin["Resources"]["ApiFunction"]["Properties"]["Events"]
        .as_object()
        .unwrap();
    assert_eq!(events.len(), routes.len());
    assert!(
        events
            .values()
            .all(|e| e["Properties"].get("Auth").is_none())
    );
    assert!(
        builtin["Resources"]["Api"]["Properties"]["Auth"]
            .get("DefaultAuthorizer")
            .is_none()
    );
    assert!(builtin["Resources"].get("AuthorizerFunction").is_none());
}

#[test]
fn the_lambda_stage_deploys_checkoffs_authorizer_from_the_same_code() {
    let doc = document(&stage_of(KINDS, "lam"));
    let api = &doc["Resources"]["ApiFunction"]["Properties"];
    let authorizer = &doc["Resources"]["AuthorizerFunction"]["Properties"];
    assert_eq!(authorizer["Handler"], "authorizer");
    assert_eq!(api["Handler"], "bootstrap");
    assert_eq!(authorizer["CodeUri"], api["CodeUri"]);
    assert_eq!(api["Runtime"], "provided.al2023");
    assert_eq!(api["Architectures"], json!(["x86_64"]));
    let gateway = &doc["Resources"]["Api"]["Properties"]["Auth"];
    assert_eq!(
        gateway["Authorizers"]["CheckoffAuthorizer"]["FunctionArn"],
        json!({"Fn::GetAtt": ["AuthorizerFunction", "Arn"]})
    );
    assert_eq!(
        api["Environment"]["Variables"]["CHECKOFF_AUTHORIZER"],
        "lambda"
    );
    assert_eq!(
        api["Environment"]["Variables"]["CHECKOFF_JWT_SECRET_PARAM"],
        json!({"Ref": "JwtSecretParameter"})
    );
    // The stage's identity settings reach the function.
    let env = &api["Environment"]["Variables"];
    assert_eq!(env["CHECKOFF_SIGNUP"], "open");
    assert_eq!(env["CHECKOFF_SESSION_TTL"], "7d");
    assert_eq!(env["CHECKOFF_OIDC_AUDIENCE"], "1example23456789");
    assert_eq!(
        authorizer["Environment"]["Variables"]["CHECKOFF_OIDC_ISSUER"],
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE1"
    );
    // Several origins: preflights go to the function, which knows them all.
    let events = api["Events"].as_object().unwrap();
    assert!(
        events
            .values()
            .any(|e| e["Properties"]["Method"] == "OPTIONS")
    );
    assert!(doc["Outputs"]["AuthorizerFunctionArn"].is_object());
}

#[test]
fn the_gateways_own_answers_keep_checkoffs_statuses_and_shape() {
    let answers = |doc: &Value, kind: &str| {
        doc["Resources"]["Api"]["Properties"]["GatewayResponses"][kind].clone()
    };
    let builtin = document(&Stage::default());
    assert_eq!(
        answers(&builtin, "MISSING_AUTHENTICATION_TOKEN")["StatusCode"],
        "404"
    );
    assert_eq!(
        answers(&builtin, "UNAUTHORIZED")["ResponseTemplates"]["application/json"],
        r#"{"message":"Unauthorized"}"#
    );
    // Behind IAM an unsigned call to a real route is "missing authentication": a 401.
    let iam = document(&stage_of(KINDS, "iam"));
    assert_eq!(
        answers(&iam, "MISSING_AUTHENTICATION_TOKEN")["StatusCode"],
        "401"
    );
    assert_eq!(answers(&iam, "INVALID_SIGNATURE")["StatusCode"], "401");
    assert_eq!(
        answers(&iam, "UNAUTHORIZED")["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"],
        "'https://app.example.com'"
    );
}

#[test]
fn the_table_has_the_single_table_keys_indexes_and_recovery() {
    let doc = document(&Stage::default());
    let table = &doc["Resources"]["Table"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["TableName"], json!({"Ref": "TableName"}));
    assert_eq!(doc["Parameters"]["TableName"]["Default"], "checkoff-t");
    // An existing table (made by `resources create`, or kept from an earlier stack) is reused.
    assert_eq!(table["Condition"], "CreateTable");
    assert_eq!(doc["Parameters"]["CreateTable"]["Default"], "true");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}])
    );
    assert_eq!(p["GlobalSecondaryIndexes"][0]["IndexName"], "GSI1");
    assert_eq!(
        p["GlobalSecondaryIndexes"][0]["KeySchema"],
        json!([{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}])
    );
    assert_eq!(p["LocalSecondaryIndexes"][0]["IndexName"], "LSI1");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    for (name, output) in [
        ("ApiUrl", "execute-api"),
        ("TableName", ""),
        ("ApiFunctionArn", ""),
    ] {
        assert!(
            doc["Outputs"][name]["Value"].to_string().contains(output),
            "{name}"
        );
    }
}

#[test]
fn roles_reach_only_this_table_this_parameter_and_their_own_logs() {
    let table = json!([
        {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"},
        {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"},
    ]);
    let parameter = json!({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${JwtSecretParameter}"});
    let doc = document(&stage_of(KINDS, "lam"));
    let all = statements(&doc);
    assert!(!all.is_empty());
    for statement in &all {
        let actions: Vec<&str> = statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let resource = &statement["Resource"];
        assert!(
            !resource.to_string().contains("\"*\""),
            "a * resource: {statement}"
        );
        if actions.iter().all(|a| a.starts_with("dynamodb:")) {
            assert_eq!(resource, &table, "{statement}");
        } else if actions.iter().all(|a| a.starts_with("ssm:")) {
            assert_eq!(actions, ["ssm:GetParameter"]);
            assert_eq!(resource, &parameter);
        } else {
            assert!(
                actions.iter().all(|a| a.starts_with("logs:")),
                "{statement}"
            );
            let group = resource["Fn::GetAtt"][0].as_str().unwrap();
            assert!(group.ends_with("Logs"), "{statement}");
            assert_eq!(doc["Resources"][group]["Type"], "AWS::Logs::LogGroup");
        }
    }
    // The authorizer only reads profiles.
    let authorizer = &doc["Resources"]["AuthorizerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"];
    assert!(
        authorizer
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Action"] == json!(["dynamodb:GetItem"]))
    );
}

/// A stage that sets every setting a stage can pass on to its functions.
const EVERY_SETTING: &str = r#"
[stages.full]
token_ttl = "30m"
session_ttl = "7d"
quota_todos = 500
quota_bytes = "1MiB"
write_rate = 10
signup = "closed"
cors_origins = ["https://app.example.com"]
[stages.full.authorizer]
kind = "lambda"
claim = "email"
oidc_issuer = "https://idp.example.com"
oidc_audience = "client"
oidc_claim = "email"
oidc_jwks_url = "https://idp.example.com/keys"
"#;

#[test]
fn the_functions_get_only_settings_the_lambda_entry_reads_and_every_one_a_stage_gives() {
    let read: BTreeSet<String> = checkoff::lambda::environment_read().into_iter().collect();
    let stage = stage_of(EVERY_SETTING, "full");
    let set: BTreeSet<String> = checkoff::deploy::template::environment(&stage)
        .keys()
        .cloned()
        .collect();
    for name in &set {
        assert!(
            read.contains(name) || name == "RUST_LOG",
            "the template sets {name}, which the Lambda entry does not read"
        );
    }
    // The reverse: what the entry reads is set by the template, or is left to its default
    // under Lambda for the reason given. A new setting must take one side.
    let left_alone = [
        "CHECKOFF_CONFIG", // no checkoff.toml in a function: the template carries the stage
        "CHECKOFF_STAGE",  // likewise
        "CHECKOFF_DATA_DIR", // no SQLite under Lambda
        "CHECKOFF_USER_CACHE_TTL", // its default on DynamoDB (no cache) is the safe one
        "CHECKOFF_LIST_CACHE_KIB", // lists on DynamoDB are always read
        "CHECKOFF_TRUSTED_PROXIES", // the client is API Gateway's sourceIp
        "CHECKOFF_FORWARDED_HEADER", // likewise
    ];
    for name in &read {
        assert!(
            set.contains(name) || left_alone.contains(&name.as_str()),
            "the Lambda entry reads {name}, which the template never sets: set it from the \
             stage or list it as left alone"
        );
    }
    for name in left_alone {
        assert!(
            read.contains(name),
            "{name} is listed but not read any more"
        );
    }
}
