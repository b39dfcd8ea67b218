// Linear regression as in MLX's documentation (examples/linear_regression): 100 features, 1,000 examples,
// plain gradient descent with Mx.Grad, learning rate 0.01, 10,000 iterations.
using System.Diagnostics;
using Mlx;

const int numFeatures = 100;
const int numExamples = 1_000;
const int numIters = 10_000;
const double lr = 0.01;

Mx.Random.Seed(0);
// The true parameters, the inputs, and noisy labels.
var wStar = Mx.Random.Normal(new[] { numFeatures });
var x = Mx.Random.Normal(new[] { numExamples, numFeatures });
var eps = Mx.Multiply(Mx.Random.Normal(new[] { numExamples }), 1e-2);
var y = Mx.Add(Mx.Matmul(x, wStar), eps);
Mx.Eval(wStar, x, y);

MxArray Loss(MxArray w) => Mx.Multiply(Mx.Mean(Mx.Square(Mx.Subtract(Mx.Matmul(x, w), y))), 0.5);

var gradFn = Mx.Grad(Loss);
var w = Mx.Multiply(Mx.Random.Normal(new[] { numFeatures }), 1e-2);

var timer = Stopwatch.StartNew();
for (int i = 0; i < numIters; i++)
{
    var grad = gradFn(w);
    w = Mx.Subtract(w, Mx.Multiply(grad, lr));
    Mx.Eval(w);
}
double seconds = timer.Elapsed.TotalSeconds;

var loss = Loss(w).Item<float>();
var error = Mx.Sqrt(Mx.Sum(Mx.Square(Mx.Subtract(w, wStar)))).Item<float>();
Console.WriteLine($"Loss {loss:F5}, |w-w*| = {error:F5}, Throughput {numIters / seconds:F2} (it/s)");
