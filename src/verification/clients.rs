//! The operator clients a [`Verifier`](super::Verifier) holds, and what each flow asks of
//! its operator: where the device goes to authorize it, then the answer for its code.

use super::{Answer, Flow, Pending, VerifyError, Wanted};
use crate::{
    config::Config,
    operators::{self, camara::Purpose, AuthCode, CamaraClient, MobileConnectClient, Nonce, OAuthState, VonageClient},
    protocol::Operator,
};

pub(super) struct Clients {
    /// The one HTTP client, which the SMS senders use too.
    pub(super) http: reqwest::Client,
    mobile_connect: Option<MobileConnectClient>,
    vonage: Option<VonageClient>,
    pub(super) camara_standard: Option<CamaraClient>,
}

impl Clients {
    /// One HTTP client, each configured operator's endpoints once.
    pub(super) fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let http = operators::http_client(config.operator_timeout)?;
        let redirect_uri = config.redirect_uri();
        let mobile_connect = config
            .mobile_connect
            .as_ref()
            .map(|mc| MobileConnectClient::new(mc, redirect_uri.clone(), http.clone()));
        let vonage = config
            .vonage
            .as_ref()
            .map(|vg| VonageClient::new(vg, redirect_uri.clone(), http.clone()));
        let camara_standard = config
            .camara_standard
            .as_ref()
            .map(|c| CamaraClient::new(c, redirect_uri.clone(), http.clone()));
        Ok(Self {
            http,
            mobile_connect,
            vonage,
            camara_standard,
        })
    }

    /// Whether `operator` is configured here.
    pub(super) fn offers(&self, operator: Operator) -> bool {
        match operator {
            Operator::MobileConnect => self.mobile_connect.is_some(),
            Operator::Vonage => self.vonage.is_some(),
            Operator::CamaraStandard => self.camara_standard.is_some(),
        }
    }

    /// The URL the device must visit top-level to authorize `flow` under `state`.
    pub(super) async fn authorize(
        &self,
        flow: &Flow,
        state: &OAuthState,
        nonce: &Nonce,
    ) -> Result<String, VerifyError> {
        let url = match flow {
            Flow::MobileConnect { .. } => Ok(self.mobile_connect()?.authorize_url(state, nonce)),
            Flow::Vonage { number } => self.vonage()?.network_enablement(number, state).await,
            Flow::CamaraStandard { wanted, pkce } => {
                let (purpose, number) = match wanted {
                    Wanted::Verify(number) => (Purpose::Verify, Some(number)),
                    Wanted::Share => (Purpose::Share, None),
                };
                self.camara_standard()?
                    .authorize_url(purpose, number, state, nonce, pkce)
                    .await
            }
        };
        Ok(url?)
    }

    /// The operator's answer to `pending`, for the `code` its callback carried.
    pub(super) async fn answer(&self, pending: &Pending, code: &AuthCode) -> Result<Answer, VerifyError> {
        match &pending.flow {
            Flow::MobileConnect { number } => {
                let mc = self.mobile_connect()?;
                let token = mc.exchange_code(code, &pending.nonce).await?;
                Ok(Answer::Verified(mc.check_number(&token, number).await?))
            }
            Flow::Vonage { number } => {
                let vonage = self.vonage()?;
                let token = vonage.exchange_code(code).await?;
                Ok(Answer::Verified(vonage.verify(&token, number).await?))
            }
            Flow::CamaraStandard { wanted, pkce } => {
                let camara = self.camara_standard()?;
                let token = camara.exchange_code(code, pkce, &pending.nonce).await?;
                match wanted {
                    Wanted::Verify(number) => Ok(Answer::Verified(
                        camara.verify(&token, number, &pending.correlator).await?,
                    )),
                    Wanted::Share => Ok(Answer::Shared(
                        camara.device_phone_number(&token, &pending.correlator).await?,
                    )),
                }
            }
        }
    }

    // A flow whose operator is not configured here: started on an instance configured
    // otherwise, during a rolling change of configuration.
    fn mobile_connect(&self) -> Result<&MobileConnectClient, VerifyError> {
        self.mobile_connect.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }

    fn vonage(&self) -> Result<&VonageClient, VerifyError> {
        self.vonage.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }

    fn camara_standard(&self) -> Result<&CamaraClient, VerifyError> {
        self.camara_standard.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }
}
