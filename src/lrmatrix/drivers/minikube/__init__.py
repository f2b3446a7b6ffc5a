"""The minikube driver: one profile per Kubernetes version, Docker runtime."""
