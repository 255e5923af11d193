import os

# The data set of this workplace lies beside the checkout (../shared/data); elsewhere MNIST_PATH
# or ~/.keras/datasets/mnist.npz provide it (see sim/mnist.py).
_SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")
if "MNIST_PATH" not in os.environ and os.path.isfile(_SHARED):
    os.environ["MNIST_PATH"] = os.path.abspath(_SHARED)
