"""The README's decorator-DAG example: three tasks wired with >>, run on threads."""

from ferroflow import DAG, task


@task
def extract():
    return [1, 2, 3]


@task(retries=2, delay=0.5, timeout=30)
def transform(data):  # the upstream result fills the first parameter
    return [x * 10 for x in data]


@task
def load(transform):  # a parameter named after a task receives its result
    return sum(transform)


extract >> transform >> load
dag = DAG("etl")  # at module level: `ferroflow graph file.py` and `ferroflow run file.py` find it

if __name__ == "__main__":
    result = dag.run(executor="thread", max_workers=4)
    print(dict(result), result.status)  # {'extract': [1, 2, 3], 'transform': [10, 20, 30], 'load': 60} completed
