//! Compute budgets for the transactions clients build: every model-vault instruction gets the
//! most it was measured to use against the SBF build (the program suite with `PAYWIRE_SBF=1`,
//! CPIs included; that toolchain's figures run high) plus a third, so no transaction depends on
//! the runtime's 200k default — `tokenize_model` measured up to 184.2k. The program suite sends every
//! transaction with these limits, so its SBF run fails when one no longer holds.

use anchor_lang::Discriminator;
use model_vault::instruction as ix;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction::Instruction;

use crate::PROGRAM_ID;

/// Units for an instruction of another program (an associated token account, a transfer).
/// Creating a Token-2022 associated account takes ~30k, plus ~1.5k for every bump its address
/// search skips: an owner whose bump is 10 below 255 (1 in 1,024 keys) needs over 40k, which
/// failed the program suite now and then and would fail such a wallet every time.
const OTHER: u32 = 80_000;

/// The most each instruction used over three runs of the SBF suite (`paywire bench program`;
/// figures vary with the bump seeds of random keys), refused calls included: a refusal must
/// say why, not run out of units (a config `validate` refuses after a search of the spend range).
const MEASURED: [(&[u8], u32); 10] = [
    (ix::TokenizeModel::DISCRIMINATOR, 184_201),
    (ix::BuybackAndBurn::DISCRIMINATOR, 66_490),
    (ix::Sell::DISCRIMINATOR, 45_924),
    (ix::Buy::DISCRIMINATOR, 44_691),
    (ix::ClaimCreatorRevenue::DISCRIMINATOR, 22_400),
    (ix::ReleaseHeldRevenue::DISCRIMINATOR, 22_444),
    (ix::RegisterModel::DISCRIMINATOR, 23_838),
    (ix::Initialize::DISCRIMINATOR, 18_901),
    (ix::UpdateModel::DISCRIMINATOR, 11_552),
    (ix::UpdateConfig::DISCRIMINATOR, 15_227),
];

fn measured(data: &[u8]) -> Option<u32> {
    MEASURED
        .iter()
        .find(|(discriminator, _)| data.starts_with(discriminator))
        .map(|(_, units)| *units)
}

/// The compute-unit limit of a transaction made of `instructions`.
pub fn compute_units(instructions: &[Instruction]) -> u32 {
    instructions
        .iter()
        .map(|i| match i.program_id == PROGRAM_ID {
            true => measured(&i.data).map_or(OTHER, |units| units + units / 3),
            false => OTHER,
        })
        .sum::<u32>()
        .min(1_400_000)
}

/// `instructions` preceded by their compute-unit limit and, when given, a priority fee in
/// microlamports per unit.
pub fn with_compute_budget(
    instructions: &[Instruction],
    priority_micro_lamports: Option<u64>,
) -> Vec<Instruction> {
    let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
        compute_units(instructions),
    )];
    all.extend(priority_micro_lamports.map(ComputeBudgetInstruction::set_compute_unit_price));
    all.extend_from_slice(instructions);
    all
}
