//! `Localnet::start` as `paywire up` runs it: the config initialized by the admin key, which
//! the chain names as the program's upgrade authority.

use std::time::Duration;

use localnet::{DataDir, Localnet, LocalnetConfig};
use solana_pubkey::Pubkey;

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_localnet_is_initialized_by_its_upgrade_authority() {
    localnet::quiet_runtime_logs();
    let net = Localnet::start_in(
        DataDir::temporary("localnet-setup-").unwrap(),
        LocalnetConfig::free_ports(Duration::from_millis(50), false),
        |_| {},
    )
    .await
    .expect("localnet starts and initializes the program");
    let chain = &net.solana.chain;
    let config = chain
        .account(&model_vault_client::config_pda())
        .await
        .unwrap()
        .expect("config exists");
    let config: model_vault::Config =
        anchor_lang::AccountDeserialize::try_deserialize(&mut config.data.as_slice()).unwrap();
    let admin: Pubkey = net.state.solana.admin;
    assert_eq!(config.admin, admin);
    assert_eq!(config.params, model_vault_client::default_params());
    let program_data = chain
        .account(&model_vault_client::program_data_pda())
        .await
        .unwrap()
        .expect("program data exists");
    assert_eq!(program_data.data[13..45], admin.to_bytes());
}
