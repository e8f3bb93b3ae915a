"""sslsan: an educational reproduction of SSL-SaN (Juanola et al., BMVC 2025).

Visual sound source localisation with negative audio (silence, noise, offscreen), from data to metrics.
The package is organised the way the method is:

- :mod:`sslsan.audio`     waveform I/O and the log-spectrogram front-end
- :mod:`sslsan.config`    run-wide settings: cache folders, the smoke switch, seeding
- :mod:`sslsan.cli`       the ``sslsan`` command line

Later modules (data, models, losses, negatives, metrics, training, evaluation, plots) plug into the same CLI.
"""

__version__ = "0.1.0"

#: Where the project lives; the Colab install cells and the book's launch buttons point here.
REPOSITORY = "https://github.com/sslsan-project/sslsan"
