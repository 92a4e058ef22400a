"""capsbook: the aids of the course "Capsule Networks, from pooling to GPU training".

Everything here serves the book's notebooks, not a user of the library
(:mod:`capslib`, which never imports this package):

* :mod:`capsbook.glue`: numbers from the code into the prose (``glue``), Colab detection;
* :mod:`capsbook.plots`, :mod:`capsbook.diagrams`: shared plots and the diagrams drawn as code;
* :mod:`capsbook.exercises`: one module of checks per chapter (``from capsbook.exercises import ch05 as ex``);
* toy worlds and demos: :mod:`capsbook.conv_arithmetic`, :mod:`capsbook.pooling`, :mod:`capsbook.faces`,
  :mod:`capsbook.classifiers` (small teaching CNNs), :mod:`capsbook.toy_capsules`, :mod:`capsbook.pitfalls`;
* reading models: :mod:`capsbook.layer_table` (shapes and parameters per layer), :mod:`capsbook.probes`
  (what capsules learn), :mod:`capsbook.pose_slider` (the static HTML slider), :mod:`capsbook.runs`
  (the training runs in ``results/``).
"""
