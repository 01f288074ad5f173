pub mod outcome;
pub mod phone_field;
pub mod protocol_choice;
pub mod simulated_sim;
