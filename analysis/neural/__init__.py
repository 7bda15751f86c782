"""Device-aware neural-network training from a measured potentiation/depression run.

Paper 000 (Roy et al., "Quantum Resistance in Multilayer Graphene-BiFeO3 Memristor for
Brain-Inspired Computing") ends with its Fig. 7c-e: the device's potentiation/depression
response (Fig. 7b) used as the synaptic weights of a small convolutional network trained on
MNIST and CIFAR-10. This sub-package goes from a run file to that result:

- :mod:`analysis.neural.device_model`: the weight-update model of a device, built from an
  ``ltp-ltd`` run with the existing NeuroSim fit (numpy only);
- :mod:`analysis.neural.datasets`: the shipped digits set and loaders for the standard
  MNIST IDX files and CIFAR-10 python batches in a local folder (no downloads);
- :mod:`analysis.neural.network` and :mod:`analysis.neural.training`: paper 000's network
  and its training with float weights or with every weight a differential pair of device
  conductances updated by whole pulses along the measured curves (JAX, the optional
  ``labapp[nn]`` extra);
- :mod:`analysis.neural.figures`: Fig. 7c-e in the project's figure style.

Only the training modules import JAX, so the rest of labapp never needs the extra.
"""
