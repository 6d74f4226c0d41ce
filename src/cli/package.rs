//! `checkoff package`: the SAM template of a stage, and what to do with it.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Cli, CliResult, Failure};
use crate::config::{ConfigFile, Runtime, secret_param_of};
use crate::deploy::template;

#[derive(Debug, Args)]
pub(super) struct PackageArgs {
    /// Where to write template.yaml [default: target/sam/<stage>; the stage is --stage, or dev].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Lambda zip the template deploys [default: the one scripts/lambda-build makes for the
    /// stage's architecture, target/lambda/<arch>/checkoff/bootstrap.zip].
    #[arg(long)]
    code: Option<PathBuf>,
}

pub(super) fn run(cli: &Cli, args: &PackageArgs) -> CliResult {
    let name = cli.location.stage.clone().unwrap_or_else(|| "dev".into());
    let config = ConfigFile::load(cli.location.config.as_deref())?;
    if config.stages.is_empty() {
        eprintln!(
            "checkoff: no checkoff.toml here (or --config): stage {name} gets the defaults \
             (builtin authorizer, 128 MB, arm64)"
        );
    }
    let stage = config.stage(&name)?;
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
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // Relative to the template, as SAM reads it: the checkout can move and still deploy.
    let out_abs = std::path::absolute(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let generated = template(&name, &stage, &table, &param, &relative_to(&code, &out_abs));
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
    // A pool the stack makes holds the people; otherwise they are accounts in the table.
    let people = if stage.authorizer.makes_pool() {
        "open <ApiUrl> and \"Sign in with Cognito\" (or aws cognito-idp sign-up --client-id <UserPoolClientId> ...)"
            .to_owned()
    } else {
        format!(
            "checkoff --stage {name} users create NAME                # a user in the stage's table"
        )
    };
    println!(
        "Wrote {} (stage {name}: {} routes, {} authorizer, table {table}, {arch}).\n\nNext:\n  \
         1. checkoff --stage {name} resources create --only secret   # the JWT secret in SSM {param} (once)\n  \
         2. scripts/lambda-build {arch}                              # the code: {}\n  \
         3. sam deploy --template-file {} --stack-name checkoff-{name} \\\n       \
         --capabilities CAPABILITY_IAM --resolve-s3\n  \
         4. curl <ApiUrl>healthz                                     # ApiUrl is among the stack's outputs\n  \
         5. {people}\n\n\
         The SAM CLI reads AWS_DEFAULT_REGION, checkoff AWS_REGION: set both to the same region.\n\
         scripts/deploy {name} does all of it.",
        file.display(),
        generated.routes,
        stage.authorizer.kind.as_str(),
        code.display(),
        file.display(),
    );
    Ok(())
}

/// `path` as seen from `base` (both absolute): `../../lambda/…` from `target/sam/dev`.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (path, base): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    relative.extend(&path[common..]);
    relative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_named_from_the_templates_folder() {
        assert_eq!(
            relative_to(
                Path::new("/r/target/lambda/arm64/checkoff/bootstrap.zip"),
                Path::new("/r/target/sam/dev")
            ),
            Path::new("../../lambda/arm64/checkoff/bootstrap.zip")
        );
        assert_eq!(
            relative_to(Path::new("/r/a.zip"), Path::new("/r")),
            Path::new("a.zip")
        );
    }
}
