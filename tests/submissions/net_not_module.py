class Net:
    def __call__(self, x):
        return x
