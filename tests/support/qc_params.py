"""Device parameter sets the physics tests share."""

#: neck rearrangements off (they redraw at every strong leading edge, not only at a rate)
NO_REARRANGE = dict(nu_rearrange=0.0, rearrange_tau_sigma=0.0, rearrange_phi_sigma=0.0)
