//! The JWT secret as an SSM SecureString parameter, as the original sample keeps it: read once
//! per start, created (random) and deleted by `checkoff resources`.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Outcome;

async fn client() -> Client {
    Client::new(super::config().await)
}

/// The value `name` holds, decrypted.
async fn stored_value(name: &str) -> Result<String, String> {
    let answer = client()
        .await
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read the SSM parameter {name}: {}",
                super::explain(&e)
            )
        })?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| format!("the SSM parameter {name} has no value"))
}

/// Reads and decrypts the secret in `name`: its text, base64 as `create_secret` writes it.
pub async fn read_secret(name: &str) -> Result<String, String> {
    stored_value(name).await
}

/// Makes `name` hold 32 random bytes (base64) unless it exists already; an existing secret is
/// never replaced, as that would end every token signed with it.
pub async fn create_secret(name: &str) -> Result<Outcome, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let value = STANDARD.encode(bytes);
    let put = client()
        .await
        .put_parameter()
        .name(name)
        .description("checkoff: the key that signs and checks API tokens (base64)")
        .r#type(ParameterType::SecureString)
        .value(&value)
        .overwrite(false)
        .send()
        .await;
    match put {
        Ok(_) => Ok(Outcome::Done),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_already_exists()) =>
        {
            // The SDK retries a put whose answer was lost: finding our own value is our write.
            let ours = stored_value(name).await.is_ok_and(|held| held == value);
            Ok(if ours {
                Outcome::Done
            } else {
                Outcome::AlreadyThere
            })
        }
        Err(e) => Err(format!(
            "cannot create the SSM parameter {name}: {}",
            super::explain(&e)
        )),
    }
}

pub async fn delete_secret(name: &str) -> Result<Outcome, String> {
    match client().await.delete_parameter().name(name).send().await {
        Ok(_) => Ok(Outcome::Done),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(Outcome::AlreadyThere)
        }
        Err(e) => Err(format!(
            "cannot delete the SSM parameter {name}: {}",
            super::explain(&e)
        )),
    }
}
