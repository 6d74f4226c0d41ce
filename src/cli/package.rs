//! `checkoff package`: the SAM template of a stage, and what to do with it.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, CliResult, Failure};
use crate::config::{ConfigFile, Runtime, secret_param_of};
use crate::deploy::template;

#[derive(Debug, Args)]
pub(super) struct PackageArgs {
    /// Where to write template.yaml [default: target/sam/<stage>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Lambda zip the template deploys [default: the one scripts/lambda-build makes for the
    /// stage's architecture, target/lambda/<arch>/checkoff/bootstrap.zip].
    #[arg(long)]
    code: Option<PathBuf>,
}

pub(super) fn run(cli: &Cli, args: &PackageArgs) -> CliResult {
    let name = cli.location.stage.clone().unwrap_or_else(|| "dev".into());
    let stage = ConfigFile::load(cli.location.config.as_deref())?.stage(&name)?;
    let staged = (name.clone(), stage.clone());
    let table = cli.location.resolve(Some(&staged), Runtime::Lambda)?.table;
    let param = cli
        .location
        .jwt_secret_param
        .clone()
        .unwrap_or_else(|| secret_param_of(&name, &stage));
    let arch = stage.architecture.as_str();
    let code = args
        .code
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/lambda/{arch}/checkoff/bootstrap.zip")));
    let code = std::path::absolute(&code).map_err(|e| format!("{}: {e}", code.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/sam").join(&name));
    let generated = template(&name, &stage, &table, &param, &code);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let file = out.join("template.yaml");
    std::fs::write(&file, &generated.yaml)
        .map_err(|e| Failure(format!("cannot write {}: {e}", file.display())))?;
    // For scripts (scripts/deploy): the stage's facts as shell assignments. Every value is
    // checked to be a plain word (architecture, kind, a DynamoDB table name).
    let facts = format!(
        "ARCHITECTURE={}\nTABLE={table}\nAUTHORIZER={}\n",
        stage.architecture.as_str(),
        stage.authorizer.kind.as_str()
    );
    let env_file = out.join("stage.env");
    std::fs::write(&env_file, facts)
        .map_err(|e| Failure(format!("cannot write {}: {e}", env_file.display())))?;
    println!(
        "Wrote {} (stage {name}: {} routes, {} authorizer, table {table}, {arch}).\n\nNext:\n  \
         1. checkoff --stage {name} resources create --only secret   # the JWT secret in SSM {param} (once)\n  \
         2. scripts/lambda-build {arch}                              # the code: {}\n  \
         3. sam deploy --template-file {} --stack-name checkoff-{name} \\\n       \
         --capabilities CAPABILITY_IAM --resolve-s3\n  \
         4. curl <ApiUrl>healthz                                     # ApiUrl is among the stack's outputs\n\n\
         scripts/deploy {name} does all of it.",
        file.display(),
        generated.routes,
        stage.authorizer.kind.as_str(),
        code.display(),
        file.display(),
    );
    Ok(())
}
