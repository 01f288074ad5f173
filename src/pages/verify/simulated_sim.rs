//! The virtual operator's simulated device (sandbox mode only): which SIM the operator
//! will see, and whether the device is on Wi-Fi. Plain forms posting to the virtual
//! operator, so it works without JavaScript; a SIM is chosen only by an explicit choice
//! here. Field names and values come from [`crate::sandbox_contract`], which the virtual
//! operator reads too.

use leptos::prelude::*;

use super::server::SimulatedDevice;
use crate::sandbox_contract::{form, DEVICE_FORM_ACTION};

#[component]
pub fn SimulatedSim(device: SimulatedDevice) -> impl IntoView {
    let sim = device
        .chosen_sim
        .as_ref()
        .unwrap_or(&device.default_sim)
        .as_str()
        .to_owned();
    let source = if device.chosen_sim.is_some() {
        "chosen here"
    } else {
        "the default"
    };
    let network = if device.wifi {
        "on Wi-Fi (the operator cannot see the SIM)"
    } else {
        "on mobile data"
    };
    let (network_value, network_button) = if device.wifi {
        (form::NETWORK_MOBILE, "Back to mobile data")
    } else {
        (form::NETWORK_WIFI, "Simulate Wi-Fi")
    };
    let camara_rule = if device.chosen_sim.is_some() {
        "CAMARA sees the same SIM."
    } else {
        "CAMARA follows the test-number rule: last digit even → this SIM has the number, odd → it has another, ending in 99 → operator error."
    };
    view! {
        <section class="card sandbox" aria-labelledby="sim-heading">
            <h2 id="sim-heading">"Virtual operator"</h2>
            <p id="sim-status">
                "The device is " {network} ". Mobile Connect sees SIM " <strong>{sim.clone()}</strong> " (" {source} "). "
                {camara_rule}
            </p>
            <form method="post" action=DEVICE_FORM_ACTION>
                <label for="sandbox-sim">"Simulated SIM"</label>
                <div class="row">
                    <input id="sandbox-sim" name=form::SIM type="text" inputmode="tel" autocomplete="off" value=sim />
                    <button class="secondary" type="submit">"Use this SIM"</button>
                </div>
                <input type="hidden" name=form::RETURN_TO value="/" />
            </form>
            <div class="row">
                <form method="post" action=DEVICE_FORM_ACTION>
                    <input type="hidden" name=form::NETWORK value=network_value />
                    <input type="hidden" name=form::RETURN_TO value="/" />
                    <button class="secondary" type="submit">{network_button}</button>
                </form>
                <form method="post" action=DEVICE_FORM_ACTION>
                    <input type="hidden" name=form::ACTION value=form::ACTION_CLEAR />
                    <input type="hidden" name=form::RETURN_TO value="/" />
                    <button class="secondary" type="submit">"Clear simulated SIM"</button>
                </form>
            </div>
        </section>
    }
}
