//! webhook-monitor suite (being written).
